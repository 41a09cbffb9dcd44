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

// Builds a pair encoding item by item.
struct PairBuilder {
  Encoding& out;
  void special(const SpecialToken& t, int type) {
    for (size_t k = 0; k < t.ids.size(); ++k) {
      out.ids.push_back(t.ids[k]);
      out.tokens.push_back(t.tokens[k]);
      out.offsets.push_back({0, 0});
      out.special.push_back(1);
      out.type_ids.push_back(static_cast<uint8_t>(type));
      out.sequence_ids.push_back(-1);
    }
  }
  void sequence(const Encoding& e, int which, int type) {
    out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
    out.tokens.insert(out.tokens.end(), e.tokens.begin(), e.tokens.end());
    out.offsets.insert(out.offsets.end(), e.offsets.begin(), e.offsets.end());
    out.special.insert(out.special.end(), e.special.begin(), e.special.end());
    out.type_ids.insert(out.type_ids.end(), e.size(), static_cast<uint8_t>(type));
    out.sequence_ids.insert(out.sequence_ids.end(), e.size(), static_cast<int8_t>(which));
  }
};

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
    if (node.has("pair")) parse_pair_template(node.at("pair"), table);
  }

  void process_pair(Encoding& a, Encoding& b, bool add_special_tokens, std::string_view,
                    std::string_view, Encoding& out) const override {
    if (pair_.empty()) {
      throw Error("tokenizer.json: post_processor TemplateProcessing has no pair template");
    }
    PairBuilder build{out};
    for (const PairItem& item : pair_) {
      if (item.sequence < 0) {
        if (add_special_tokens) build.special(item.special, item.type_id);
      } else {
        build.sequence(item.sequence == 0 ? a : b, item.sequence, item.type_id);
      }
    }
  }

  void process(Encoding& enc, bool add_special_tokens, std::string_view) const override {
    if (add_special_tokens) wrap(enc, before_, after_);
  }
  void special_ids(std::vector<int64_t>& before, std::vector<int64_t>& after) const override {
    append_ids(before_, before);
    append_ids(after_, after);
  }

 private:
  // A template is a list of {"SpecialToken": {"id": ..., "type_id": t}} and
  // {"Sequence": {"id": "A" | "B", "type_id": t}} items.
  struct PairItem {
    int sequence = -1;  // 0 (A), 1 (B), -1 (a special token)
    SpecialToken special;
    int type_id = 0;
  };
  void parse_pair_template(const JsonNode& list,
                           const std::map<std::string, SpecialToken>& table) {
    bool seen[2] = {false, false};
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonNode item = list.at(i);
      PairItem p;
      if (item.has("SpecialToken")) {
        const JsonNode s = item.at("SpecialToken");
        auto it = table.find(s.at("id").as_string());
        if (it == table.end()) {
          s.at("id").fail(str_cat("special token '", s.at("id").as_string(),
                                  "' is not in special_tokens"));
        }
        p.special = it->second;
        p.type_id = static_cast<int>(s.get_int_or("type_id", 0));
      } else if (item.has("Sequence")) {
        const JsonNode s = item.at("Sequence");
        const std::string id = s.at("id").as_string();
        if (id != "A" && id != "B") s.at("id").fail("expected \"A\" or \"B\"");
        p.sequence = id == "A" ? 0 : 1;
        if (seen[p.sequence]) item.fail("a pair template holds each sequence once");
        seen[p.sequence] = true;
        p.type_id = static_cast<int>(s.get_int_or("type_id", 0));
      } else {
        item.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
      if (p.type_id < 0 || p.type_id > 255) item.fail("type_id must be in [0, 255]");
      pair_.push_back(std::move(p));
    }
    if (!seen[0] || !seen[1]) list.fail("a pair template needs sequences A and B");
  }
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
  std::vector<PairItem> pair_;
};

SpecialToken parse_pair(const JsonNode& node) {
  // ["[CLS]", 101]
  if (!node.is_array() || node.size() != 2) node.fail("expected [token, id]");
  SpecialToken t;
  t.tokens.push_back(node.at(size_t{0}).as_string());
  t.ids.push_back(node.at(size_t{1}).as_int());
  return t;
}

// BertProcessing and RobertaProcessing: [CLS] A [SEP] (Roberta may first trim offsets); pairs
// [CLS] A [SEP] B [SEP] with types 0 then 1 (BERT), <s> A </s> </s> B </s> all type 0 (RoBERTa).
class ClsSepProcessor : public PostProcessor {
 public:
  ClsSepProcessor(SpecialToken cls, SpecialToken sep, bool trim_offsets, bool add_prefix_space,
                  bool roberta)
      : cls_(std::move(cls)),
        sep_(std::move(sep)),
        trim_offsets_(trim_offsets),
        add_prefix_space_(add_prefix_space),
        roberta_(roberta) {}

  void process_pair(Encoding& a, Encoding& b, bool add_special_tokens, std::string_view original_a,
                    std::string_view original_b, Encoding& out) const override {
    if (trim_offsets_) {
      trim_byte_level_offsets(a, add_prefix_space_, original_a);
      trim_byte_level_offsets(b, add_prefix_space_, original_b);
    }
    PairBuilder build{out};
    const int second = roberta_ ? 0 : 1;  // RoBERTa has one token type
    if (!add_special_tokens) {
      build.sequence(a, 0, 0);
      build.sequence(b, 1, second);
      return;
    }
    build.special(cls_, 0);
    build.sequence(a, 0, 0);
    build.special(sep_, 0);
    if (roberta_) build.special(sep_, 0);
    build.sequence(b, 1, second);
    build.special(sep_, second);
  }

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
  bool roberta_;
};

class ByteLevelProcessor : public PostProcessor {
 public:
  ByteLevelProcessor(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  void process(Encoding& enc, bool, std::string_view original) const override {
    if (trim_offsets_) trim_byte_level_offsets(enc, add_prefix_space_, original);
  }
  void process_pair(Encoding& a, Encoding& b, bool, std::string_view original_a,
                    std::string_view original_b, Encoding& out) const override {
    process(a, false, original_a);
    process(b, false, original_b);
    join_pair(a, b, out);
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

void PostProcessor::process_pair(Encoding&, Encoding&, bool, std::string_view, std::string_view,
                                 Encoding&) const {
  throw Error("tokenizer.json: this post_processor (a Sequence) has no pair layout: text pairs "
              "cannot be encoded");
}

void join_pair(const Encoding& a, const Encoding& b, Encoding& out) {
  PairBuilder build{out};
  build.sequence(a, 0, 0);
  build.sequence(b, 1, 1);
}

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
                                             false, false, /*roberta=*/false);
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<ClsSepProcessor>(parse_pair(node.at("cls")), parse_pair(node.at("sep")),
                                             node.get_bool_or("trim_offsets", true),
                                             node.get_bool_or("add_prefix_space", true),
                                             /*roberta=*/true);
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
