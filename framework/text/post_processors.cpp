// Post-processors of tokenizer.json ("post_processor" section): special tokens around a single
// sequence, and ByteLevel offset trimming.
#include <algorithm>
#include <map>

#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai::text {

namespace {

constexpr const char* kSupportedPostProcessors =
    "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

struct SpecialToken {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
};

// Inserts the given special tokens (empty spans, special = 1) around the encoded sequence.
void wrap(Encoding& enc, const std::vector<SpecialToken>& before,
          const std::vector<SpecialToken>& after) {
  Encoding out;
  auto add_special = [&](const SpecialToken& t) {
    for (size_t k = 0; k < t.ids.size(); ++k) {
      out.ids.push_back(t.ids[k]);
      out.tokens.push_back(t.tokens[k]);
      out.offsets.push_back({0, 0});
      out.special.push_back(1);
    }
  };
  for (const SpecialToken& t : before) add_special(t);
  out.ids.insert(out.ids.end(), enc.ids.begin(), enc.ids.end());
  out.tokens.insert(out.tokens.end(), std::make_move_iterator(enc.tokens.begin()),
                    std::make_move_iterator(enc.tokens.end()));
  out.offsets.insert(out.offsets.end(), enc.offsets.begin(), enc.offsets.end());
  out.special.insert(out.special.end(), enc.special.begin(), enc.special.end());
  for (const SpecialToken& t : after) add_special(t);
  enc = std::move(out);
}

void append_ids(const std::vector<SpecialToken>& list, std::vector<int64_t>& ids) {
  for (const SpecialToken& t : list) ids.insert(ids.end(), t.ids.begin(), t.ids.end());
}

class TemplateProcessor : public PostProcessor {
 public:
  explicit TemplateProcessor(const JsonNode& node) {
    const JsonNode specials = node.at("special_tokens");
    specials.expect_object();
    std::map<std::string, SpecialToken> table;
    for (auto it = specials.json().begin(); it != specials.json().end(); ++it) {
      const JsonNode s(it.value(), specials.child_path(it.key().c_str()), node.source());
      SpecialToken t;
      const JsonNode ids = s.at("ids");
      const JsonNode tokens = s.at("tokens");
      for (size_t i = 0; i < ids.size(); ++i) t.ids.push_back(ids.at(i).as_int());
      for (size_t i = 0; i < tokens.size(); ++i) t.tokens.push_back(tokens.at(i).as_string());
      if (t.ids.size() != t.tokens.size()) s.fail("'ids' and 'tokens' differ in length");
      table[it.key()] = std::move(t);
    }
    parse_template(node.at("single"), table, /*keep=*/true);
    if (node.has("pair")) parse_template(node.at("pair"), table, /*keep=*/false);
  }

  void process(Encoding& enc, bool add_special_tokens, std::string_view) const override {
    if (add_special_tokens) wrap(enc, before_, after_);
  }
  void special_ids(std::vector<int64_t>& before, std::vector<int64_t>& after) const override {
    append_ids(before_, before);
    append_ids(after_, after);
  }

 private:
  // A template is a list of {"SpecialToken": {"id": ...}} and {"Sequence": {"id": "A"}} items.
  // Pair templates are checked but not used: only single sequences are encoded.
  void parse_template(const JsonNode& list, const std::map<std::string, SpecialToken>& table,
                      bool keep) {
    bool seen_sequence = false;
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonNode item = list.at(i);
      if (item.has("SpecialToken")) {
        const JsonNode id = item.at("SpecialToken").at("id");
        auto it = table.find(id.as_string());
        if (it == table.end())
          id.fail(str_cat("special token '", id.as_string(), "' is not in special_tokens"));
        if (keep) (seen_sequence ? after_ : before_).push_back(it->second);
      } else if (item.has("Sequence")) {
        if (keep && seen_sequence) item.fail("a single-sequence template holds one sequence");
        seen_sequence = true;
      } else {
        item.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
    }
    if (keep && !seen_sequence) list.fail("the template has no {\"Sequence\": ...} item");
  }

  std::vector<SpecialToken> before_;
  std::vector<SpecialToken> after_;
};

SpecialToken parse_pair(const JsonNode& node) {
  // ["[CLS]", 101]
  if (!node.is_array() || node.size() != 2) node.fail("expected [token, id]");
  SpecialToken t;
  t.tokens.push_back(node.at(size_t{0}).as_string());
  t.ids.push_back(node.at(size_t{1}).as_int());
  return t;
}

// BertProcessing and RobertaProcessing: [CLS] A [SEP] (Roberta may first trim offsets).
class ClsSepProcessor : public PostProcessor {
 public:
  ClsSepProcessor(SpecialToken cls, SpecialToken sep, bool trim_offsets, bool add_prefix_space)
      : cls_(std::move(cls)),
        sep_(std::move(sep)),
        trim_offsets_(trim_offsets),
        add_prefix_space_(add_prefix_space) {}

  void process(Encoding& enc, bool add_special_tokens, std::string_view original) const override {
    if (trim_offsets_) trim_byte_level_offsets(enc, add_prefix_space_, original);
    if (add_special_tokens) wrap(enc, {cls_}, {sep_});
  }
  void special_ids(std::vector<int64_t>& before, std::vector<int64_t>& after) const override {
    before.push_back(cls_.ids[0]);
    after.push_back(sep_.ids[0]);
  }

 private:
  SpecialToken cls_;
  SpecialToken sep_;
  bool trim_offsets_;
  bool add_prefix_space_;
};

class ByteLevelProcessor : public PostProcessor {
 public:
  ByteLevelProcessor(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  void process(Encoding& enc, bool, std::string_view original) const override {
    if (trim_offsets_) trim_byte_level_offsets(enc, add_prefix_space_, original);
  }
  void special_ids(std::vector<int64_t>&, std::vector<int64_t>&) const override {}

 private:
  bool trim_offsets_;
  bool add_prefix_space_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  void process(Encoding& enc, bool add_special_tokens, std::string_view original) const override {
    for (const auto& s : steps_) s->process(enc, add_special_tokens, original);
  }
  void special_ids(std::vector<int64_t>& before, std::vector<int64_t>& after) const override {
    for (const auto& s : steps_) s->special_ids(before, after);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// Start of the character after the one at byte i (invalid bytes count as one character each,
// as encode() treats them).
size_t next_char(std::string_view s, size_t i) {
  const size_t len = valid_utf8_length(s, i);
  return i + (len > 0 ? len : 1);
}

// Start of the character before byte i (i > 0).
size_t prev_char(std::string_view s, size_t i) {
  for (size_t len = 1; len <= 4 && len <= i; ++len) {
    if (valid_utf8_length(s, i - len) == len) return i - len;
  }
  return i - 1;
}

bool is_space_like(char32_t c) { return c == 0x120 || is_whitespace(c); }  // 'Ġ' or whitespace

}  // namespace

void trim_byte_level_offsets(Encoding& enc, bool add_prefix_space, std::string_view original) {
  for (size_t t = 0; t < enc.size(); ++t) {
    const std::string& token = enc.tokens[t];
    std::vector<char32_t> chars;
    for (size_t i = 0; i < token.size();) chars.push_back(next_code_point(token, i));
    size_t leading = 0;
    while (leading < chars.size() && is_space_like(chars[leading])) ++leading;
    size_t trailing = 0;
    while (trailing < chars.size() && is_space_like(chars[chars.size() - 1 - trailing])) ++trailing;
    if (leading == 0 && trailing == 0) continue;
    ByteSpan& span = enc.offsets[t];
    // HF counts these in characters of the original text; step character by character.
    if (leading > 0) {
      const bool is_first = t == 0 || span.begin == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      auto begin = static_cast<size_t>(span.begin);
      const auto end = static_cast<size_t>(span.end);
      for (size_t k = 0; k < leading && begin < end; ++k) begin = next_char(original, begin);
      span.begin = static_cast<int64_t>(std::min(begin, end));
    }
    if (trailing > 0) {
      auto end = static_cast<size_t>(span.end);
      size_t k = 0;
      while (k < trailing && end > 0) {
        end = prev_char(original, end);
        ++k;
      }
      if (k == trailing) {  // the end was at least `trailing` characters into the text
        span.end = std::max(static_cast<int64_t>(end), span.begin);
      }
    }
  }
}

std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node) {
  if (node.is_null()) return nullptr;
  node.expect_object();
  const std::string type = node.type();
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(node);
  if (type == "BertProcessing") {
    return std::make_unique<ClsSepProcessor>(parse_pair(node.at("cls")), parse_pair(node.at("sep")),
                                             false, false);
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<ClsSepProcessor>(parse_pair(node.at("cls")), parse_pair(node.at("sep")),
                                             node.get_bool_or("trim_offsets", true),
                                             node.get_bool_or("add_prefix_space", true));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelProcessor>(node.get_bool_or("trim_offsets", true),
                                                node.get_bool_or("add_prefix_space", true));
  }
  if (type == "Sequence") {
    const JsonNode list = node.at("processors");
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_post_processor(list.at(i));
      if (p) steps.push_back(std::move(p));
    }
    return std::make_unique<SequenceProcessor>(std::move(steps));
  }
  node.unsupported("post_processor", type, kSupportedPostProcessors);
}

}  // namespace xai::text
