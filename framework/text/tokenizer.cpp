// Tokenizer: loads tokenizer.json and runs added tokens -> normalizer -> pre-tokenizer -> model ->
// post-processor, in the order and with the offsets of the Hugging Face library.
#include "framework/text/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai {

namespace text {
namespace {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// Leftmost-longest matching of a set of strings (HF builds an Aho-Corasick automaton; the sets
// are small, so candidates bucketed by first byte, longest first, do the same job).
class Matcher {
 public:
  void add(std::string pattern, size_t token_index) {
    if (pattern.empty()) return;
    auto& bucket = buckets_[static_cast<unsigned char>(pattern[0])];
    bucket.push_back({std::move(pattern), token_index});
    std::stable_sort(bucket.begin(), bucket.end(), [](const Entry& a, const Entry& b) {
      return a.pattern.size() > b.pattern.size();
    });
    empty_ = false;
  }
  bool empty() const { return empty_; }
  // The match starting at pos with the longest pattern: (length, token index), or length 0.
  std::pair<size_t, size_t> match_at(std::string_view s, size_t pos) const {
    for (const Entry& e : buckets_[static_cast<unsigned char>(s[pos])]) {
      if (s.compare(pos, e.pattern.size(), e.pattern) == 0) return {e.pattern.size(), e.token};
    }
    return {0, 0};
  }

 private:
  struct Entry {
    std::string pattern;
    size_t token;
  };
  std::vector<Entry> buckets_[256];
  bool empty_ = true;
};

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return is_alphanumeric(next_code_point(s, start));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_alphanumeric(next_code_point(s, i));
}

// Byte length of s without its trailing whitespace (Rust str::trim_end).
size_t trim_end_length(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!is_whitespace(next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// Bytes of leading whitespace of s (Rust str::trim_start).
size_t leading_whitespace_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!is_whitespace(next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

}  // namespace

// The added_tokens of tokenizer.json (HF AddedVocabulary).
class AddedVocabulary {
 public:
  void add(AddedToken t) {
    by_content_[t.content] = t.id;
    if (t.special) special_contents_.insert(t.content);
    by_id_[t.id] = tokens_.size();
    tokens_.push_back(std::move(t));
  }

  // Builds the matchers; normalized tokens are matched in their normalized form.
  void build(const Normalizer* normalizer) {
    // HF orders the special tokens before the others; ties in leftmost-longest only arise between
    // identical contents, so the order matters little, but keep it.
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < tokens_.size(); ++i) {
        const AddedToken& t = tokens_[i];
        if (t.special != (pass == 0)) continue;
        if (!t.normalized) {
          raw_.add(t.content, i);
        } else {
          Piece p = make_root_piece(t.content);
          if (normalizer != nullptr) normalizer->normalize(p);
          normalized_.add(p.text, i);
        }
      }
    }
  }

  // Splits p on the added tokens (raw or normalized set) and appends the pieces to out; token
  // pieces carry their id (HF AddedVocabulary::split_with_indices + find_matches).
  void split(Piece&& p, bool normalized_set, std::vector<Piece>& out) const {
    const Matcher& m = normalized_set ? normalized_ : raw_;
    if (p.text.empty()) return;  // HF drops empty splits
    const std::string_view s = p.text;
    size_t start_offset = 0;
    size_t pos = m.empty() ? s.size() : 0;
    bool any = false;
    auto emit = [&](size_t b, size_t e, int32_t id) {
      if (b >= e) return;
      Piece q = slice(p, b, e);
      q.added_id = id;
      out.push_back(std::move(q));
    };
    while (pos < s.size()) {
      const auto [len, index] = m.match_at(s, pos);
      if (len == 0) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + len;
      pos = stop;
      const AddedToken& t = tokens_[index];
      if (t.single_word) {
        const bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
        const bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) start = std::max(trim_end_length(s.substr(0, start)), start_offset);
      if (t.rstrip) stop += leading_whitespace_length(s.substr(stop));
      if (start_offset < start) emit(start_offset, start, -1);
      emit(start, stop, t.id);
      start_offset = stop;
      any = true;
    }
    if (!any) {  // HF still slices the whole piece, which re-bases its original_shift
      p.original_shift = p.align[0].begin;
      out.push_back(std::move(p));
      return;
    }
    if (start_offset < s.size()) emit(start_offset, s.size(), -1);
  }

  std::optional<int32_t> token_to_id(const std::string& content) const {
    auto it = by_content_.find(content);
    if (it == by_content_.end()) return std::nullopt;
    return it->second;
  }
  const AddedToken* by_id(int64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &tokens_[it->second];
  }
  bool is_special_content(const std::string& s) const { return special_contents_.count(s) > 0; }
  int64_t max_id() const {
    int64_t m = -1;
    for (const AddedToken& t : tokens_) m = std::max<int64_t>(m, t.id);
    return m;
  }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, int32_t> by_content_;
  std::unordered_map<int64_t, size_t> by_id_;
  std::unordered_set<std::string> special_contents_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace text

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<text::Normalizer> normalizer;
  std::unique_ptr<text::PreTokenizer> pre_tokenizer;
  std::unique_ptr<text::Model> model;
  std::unique_ptr<text::PostProcessor> post_processor;
  std::unique_ptr<text::Decoder> decoder;
  text::AddedVocabulary added;
  int64_t vocab_size = 0;
  std::vector<int64_t> special_before;
  std::vector<int64_t> special_after;
  std::optional<int64_t> unk, pad, mask;
  // tokenizer_config.json's chat_template (the default one of a list) and the texts of its
  // bos_token and eos_token, which templates write.
  std::optional<std::string> chat_template;
  std::string bos_text, eos_text;

  std::optional<int64_t> id_of(const std::string& token) const {
    if (auto id = added.token_to_id(token)) return *id;
    if (auto id = model->token_to_id(token)) return *id;
    return std::nullopt;
  }
};

namespace {

// A special token of tokenizer_config.json: "<unk>", or {"content": "<unk>", ...}, or null.
std::optional<std::string> config_token(const nlohmann::json& cfg, const char* key,
                                        const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const nlohmann::json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  throw Error(str_cat(path, ": ", key, " must be a string or an object with a string 'content'"));
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(str_cat(path,
                        ": cannot open the tokenizer file. HINT: pass the path of a "
                        "tokenizer.json saved by the Hugging Face tokenizers library"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  Tokenizer t = from_json_text(buffer.str(), path);
  // transformers keeps the special-token roles (unk, pad) in tokenizer_config.json beside it.
  const std::filesystem::path cfg_path =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::ifstream cin(cfg_path, std::ios::binary);
  if (!cin) return t;
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(cin);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(cfg_path.string(), ": invalid JSON (", e.what(), ")"));
  }
  if (!cfg.is_object()) throw Error(str_cat(cfg_path.string(), ": not a JSON object"));
  auto impl = std::const_pointer_cast<Impl>(t.impl_);  // not shared yet: t is the only owner
  if (auto u = config_token(cfg, "unk_token", cfg_path.string())) impl->unk = impl->id_of(*u);
  if (auto p = config_token(cfg, "pad_token", cfg_path.string())) impl->pad = impl->id_of(*p);
  if (auto m = config_token(cfg, "mask_token", cfg_path.string())) impl->mask = impl->id_of(*m);
  impl->bos_text = config_token(cfg, "bos_token", cfg_path.string()).value_or("");
  impl->eos_text = config_token(cfg, "eos_token", cfg_path.string()).value_or("");
  if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
    const nlohmann::json& c = cfg["chat_template"];
    if (c.is_string()) {
      impl->chat_template = c.get<std::string>();
    } else if (c.is_array()) {  // named templates: transformers' default is "default"
      for (const auto& e : c) {
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template"))
          impl->chat_template = e["template"].get<std::string>();
      }
    }
    if (!impl->chat_template) {
      throw Error(str_cat(cfg_path.string(), ": chat_template must be a string or a list of "
                                             "{name, template} with a 'default'"));
    }
  }
  return t;
}

Tokenizer Tokenizer::from_json_text(const std::string& json_text, const std::string& source_name) {
  using text::JsonNode;
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(source_name, ": invalid JSON (", e.what(), ")"));
  }
  auto impl = std::make_shared<Impl>();
  impl->source = source_name;
  const JsonNode top(root, "", impl->source);
  top.expect_object();
  impl->model = text::make_model(top.at("model"));
  if (top.has("normalizer")) impl->normalizer = text::make_normalizer(top.at("normalizer"));
  if (top.has("pre_tokenizer"))
    impl->pre_tokenizer = text::make_pre_tokenizer(top.at("pre_tokenizer"));
  if (top.has("post_processor"))
    impl->post_processor = text::make_post_processor(top.at("post_processor"));
  if (top.has("decoder")) impl->decoder = text::make_decoder(top.at("decoder"));
  if (top.has("added_tokens")) {
    const JsonNode list = top.at("added_tokens");
    list.expect_array();
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonNode t = list.at(i);
      text::AddedToken a;
      const int64_t id = t.at("id").as_int();
      if (id < 0 || id > INT32_MAX) t.at("id").fail(str_cat("token id ", id, " is out of range"));
      a.id = static_cast<int32_t>(id);
      a.content = t.get_string("content");
      a.single_word = t.get_bool_or("single_word", false);
      a.lstrip = t.get_bool_or("lstrip", false);
      a.rstrip = t.get_bool_or("rstrip", false);
      a.normalized = t.get_bool_or("normalized", true);
      a.special = t.get_bool_or("special", false);
      impl->added.add(std::move(a));
    }
  }
  impl->added.build(impl->normalizer.get());
  impl->vocab_size = std::max(impl->model->vocab_size(), impl->added.max_id() + 1);
  if (impl->post_processor)
    impl->post_processor->special_ids(impl->special_before, impl->special_after);
  if (root["model"].contains("unk_token") && root["model"]["unk_token"].is_string())
    impl->unk = impl->id_of(root["model"]["unk_token"].get<std::string>());
  // BERT's and RoBERTa's mask tokens by their usual names (tokenizer_config.json's mask_token, when
  // from_file finds it, takes precedence).
  for (const char* name : {"[MASK]", "<mask>"}) {
    if (!impl->mask) impl->mask = impl->id_of(name);
  }
  return Tokenizer(std::move(impl));
}

namespace {

// Steps 1-4 of encoding one text: added tokens, normalizer, pre-tokenizer, model (no
// post-processing).
Encoding tokenize(const Tokenizer::Impl& m, const std::string& input) {
  using text::Piece;
  std::vector<Piece> pieces;
  // 1. Added tokens that match the raw text; 2. normalize the rest, then match normalized ones.
  m.added.split(text::make_root_piece(input), /*normalized_set=*/false, pieces);
  {
    std::vector<Piece> next;
    next.reserve(pieces.size());
    for (Piece& p : pieces) {
      if (p.added_id >= 0) {
        next.push_back(std::move(p));
        continue;
      }
      if (m.normalizer) m.normalizer->normalize(p);
      m.added.split(std::move(p), /*normalized_set=*/true, next);
    }
    pieces = std::move(next);
  }
  // 3. Pre-tokenize, 4. run the model on each piece.
  if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(pieces);
  Encoding enc;
  enc.ids.reserve(input.size() / 3 + 4);
  enc.tokens.reserve(input.size() / 3 + 4);
  enc.offsets.reserve(input.size() / 3 + 4);
  enc.special.reserve(input.size() / 3 + 4);
  std::vector<text::ModelToken> tokens;
  for (const Piece& p : pieces) {
    if (p.added_id >= 0) {
      const text::AddedToken* t = m.added.by_id(p.added_id);
      const text::Align span = text::original_span(p, 0, p.text.size());
      enc.ids.push_back(p.added_id);
      enc.tokens.push_back(p.text);  // HF keeps the matched text, lstrip/rstrip spaces included
      enc.offsets.push_back({span.begin, span.end});
      enc.special.push_back(t != nullptr && t->special ? 1 : 0);
      continue;
    }
    tokens.clear();
    m.model->tokenize(p.text, tokens);
    for (const text::ModelToken& t : tokens) {
      const std::string* token = m.model->id_to_token(t.id);
      const size_t end = std::min<size_t>(t.end, p.text.size());
      const text::Align span = text::original_span(p, std::min<size_t>(t.begin, end), end);
      enc.ids.push_back(t.id);
      enc.tokens.push_back(token != nullptr ? *token : std::string());
      enc.offsets.push_back({span.begin, span.end});
      enc.special.push_back(0);
    }
  }
  return enc;
}

}  // namespace

Encoding Tokenizer::encode(const std::string& input, bool add_special_tokens) const {
  Encoding enc = tokenize(*impl_, input);
  // 5. Post-process: offset trimming and special tokens around the sequence.
  if (impl_->post_processor) impl_->post_processor->process(enc, add_special_tokens, input);
  return enc;
}

Encoding Tokenizer::encode_pair(const std::string& a, const std::string& b,
                                bool add_special_tokens) const {
  Encoding ea = tokenize(*impl_, a), eb = tokenize(*impl_, b), out;
  if (impl_->post_processor) {
    impl_->post_processor->process_pair(ea, eb, add_special_tokens, a, b, out);
  } else {
    text::join_pair(ea, eb, out);
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    const std::string* token = nullptr;
    if (const text::AddedToken* t = m.added.by_id(id)) {
      token = &t->content;
    } else if (id >= 0 && id <= INT32_MAX) {
      token = m.model->id_to_token(static_cast<int32_t>(id));
    }
    if (token == nullptr) continue;  // unknown ids are skipped, as HF does
    if (skip_special_tokens && m.added.is_special_content(*token)) continue;
    tokens.push_back(*token);
  }
  if (!m.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  m.decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  return impl_->id_of(token);
}

std::optional<int64_t> Tokenizer::unk_id() const { return impl_->unk; }
std::optional<int64_t> Tokenizer::pad_id() const { return impl_->pad; }
std::optional<int64_t> Tokenizer::mask_id() const { return impl_->mask; }

std::string Tokenizer::id_to_token(int64_t id) const {
  if (const text::AddedToken* t = impl_->added.by_id(id)) return t->content;
  if (id >= 0 && id <= INT32_MAX) {
    if (const std::string* token = impl_->model->id_to_token(static_cast<int32_t>(id)))
      return *token;
  }
  throw Error(str_cat(impl_->source, ": token id ", id, " is not in the vocabulary (size ",
                      impl_->vocab_size, ")"));
}

std::optional<int64_t> Tokenizer::bos_id() const {
  if (impl_->special_before.empty()) return std::nullopt;
  return impl_->special_before.front();
}

std::optional<int64_t> Tokenizer::eos_id() const {
  if (impl_->special_after.empty()) return std::nullopt;
  return impl_->special_after.back();
}

const std::optional<std::string>& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::bos_text() const { return impl_->bos_text; }
const std::string& Tokenizer::eos_text() const { return impl_->eos_text; }

}  // namespace xai
