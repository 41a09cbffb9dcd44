// Normalizers of tokenizer.json ("normalizer" section).
#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai::text {

namespace {

constexpr const char* kSupportedNormalizers =
    "Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, "
    "BertNormalizer, ByteLevel";

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  void normalize(Piece& p) const override {
    for (const auto& s : steps_) s->normalize(p);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(bool compatibility, bool compose)
      : compatibility_(compatibility), compose_(compose) {}
  void normalize(Piece& p) const override { normalize_unicode(p, compatibility_, compose_); }

 private:
  bool compatibility_;
  bool compose_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    bool ascii = true;
    for (char& ch : p.text) {
      if (static_cast<unsigned char>(ch) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {  // same length, alignments unchanged
      for (char& ch : p.text)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
      return;
    }
    map_chars(p, [](char32_t c, std::string& out) { append_lowercase(out, c); });
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(Piece& p) const override { strip_whitespace(p, left_, right_); }

 private:
  bool left_;
  bool right_;
};

class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    map_chars(p, [](char32_t c, std::string& out) {
      if (!is_mark(c)) append_utf8(out, c);
    });
  }
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(Piece& p) const override {
    if (p.text.empty()) return;
    MatchList matches;
    pattern_.find(p.text, matches);
    replace_matches(p, matches, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(Piece& p) const override { prepend(p, prefix_); }

 private:
  std::string prefix_;
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_(chinese),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void normalize(Piece& p) const override {
    if (clean_text_) {
      map_chars(p, [](char32_t c, std::string& out) {
        const bool control = c != '\t' && c != '\n' && c != '\r' && is_other(c);
        if (c == 0 || c == 0xFFFD || control) return;
        if (c == '\t' || c == '\n' || c == '\r' || is_whitespace(c)) {
          out.push_back(' ');
        } else {
          append_utf8(out, c);
        }
      });
    }
    if (chinese_) {
      map_chars(p, [](char32_t c, std::string& out) {
        if (is_chinese_char(c)) {
          out.push_back(' ');
          append_utf8(out, c);
          out.push_back(' ');
        } else {
          append_utf8(out, c);
        }
      });
    }
    if (strip_accents_) {
      normalize_unicode(p, /*compatibility=*/false, /*compose=*/false);
      map_chars(p, [](char32_t c, std::string& out) {
        if (!is_mark_nonspacing(c)) append_utf8(out, c);
      });
    }
    if (lowercase_) LowercaseNormalizer().normalize(p);
  }

 private:
  bool clean_text_;
  bool chinese_;
  bool strip_accents_;
  bool lowercase_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    const ByteLevelMap& m = byte_level_map();
    std::string text;
    text.reserve(p.text.size() * 2);
    std::vector<Align> align;
    align.reserve(p.text.size() * 2);
    for (size_t i = 0; i < p.text.size(); ++i) {
      const std::string& u = m.byte_to_utf8[static_cast<unsigned char>(p.text[i])];
      text.append(u);
      align.insert(align.end(), u.size(), p.align[i]);
    }
    p.text = std::move(text);
    p.align = std::move(align);
  }
};

}  // namespace

Pattern parse_pattern(const JsonNode& node) {
  node.expect_object();
  Pattern p;
  if (node.has("String")) {
    p.literal = node.get_string("String");
  } else if (node.has("Regex")) {
    const JsonNode r = node.at("Regex");
    try {
      p.regex.emplace(r.as_string());
    } catch (const Error& e) {
      r.fail(e.what());
    }
  } else {
    node.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  return p;
}

std::unique_ptr<Normalizer> make_normalizer(const JsonNode& node) {
  if (node.is_null()) return nullptr;
  node.expect_object();
  const std::string type = node.type();
  if (type == "Sequence") {
    const JsonNode list = node.at("normalizers");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto n = make_normalizer(list.at(i));
      if (n) steps.push_back(std::move(n));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(false, true);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(false, false);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(true, true);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(true, false);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(node.get_bool_or("strip_left", true),
                                             node.get_bool_or("strip_right", true));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(parse_pattern(node.at("pattern")),
                                               node.get_string("content"));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(node.get_string("prepend"));
  if (type == "BertNormalizer") {
    const bool lowercase = node.get_bool_or("lowercase", true);
    // strip_accents: null means "same as lowercase" (BERT's original behaviour).
    const bool strip = node.has("strip_accents") ? node.at("strip_accents").as_bool() : lowercase;
    return std::make_unique<BertNormalizer>(node.get_bool_or("clean_text", true),
                                            node.get_bool_or("handle_chinese_chars", true), strip,
                                            lowercase);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  node.unsupported("normalizer", type, kSupportedNormalizers);
}

}  // namespace xai::text
