// Pre-tokenizers of tokenizer.json ("pre_tokenizer" section).
#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai::text {

namespace {

constexpr const char* kSupportedPreTokenizers =
    "Sequence, ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer, "
    "Digits, Punctuation, CharDelimiterSplit";

// GPT-2's split pattern (the ByteLevel pre-tokenizer's use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Applies split_one(piece, out) to every piece that is not an added token.
template <typename F>
void split_each(std::vector<Piece>& pieces, F&& split_one) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 4);
  for (Piece& p : pieces) {
    if (p.added_id >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    split_one(p, out);
  }
  pieces = std::move(out);
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& s : steps_) s->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Appends the byte-level image of p's bytes [begin, end) as a new piece.
void push_byte_level(const Piece& p, size_t begin, size_t end, int64_t original_shift,
                     std::vector<Piece>& out) {
  const ByteLevelMap& m = byte_level_map();
  Piece q;
  q.text.reserve((end - begin) * 2);
  q.align.reserve((end - begin) * 2);
  for (size_t i = begin; i < end; ++i) {
    const std::string& u = m.byte_to_utf8[static_cast<unsigned char>(p.text[i])];
    q.text.append(u);
    q.align.insert(q.align.end(), u.size(), p.align[i]);
  }
  q.original_shift = original_shift;
  out.push_back(std::move(q));
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) regex_.emplace(kGpt2Pattern);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    MatchList matches;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      if (add_prefix_space_ && !p.text.empty() && p.text[0] != ' ') prepend(p, " ");
      if (p.text.empty()) return;
      if (!use_regex_) {
        push_byte_level(p, 0, p.text.size(), p.original_shift, out);  // no slice in HF
        return;
      }
      // Isolated: every match and every gap between matches is a piece.
      regex_->find_all(p.text, matches);
      size_t prev = 0;
      for (const auto& [b, e] : matches) {
        if (prev < b) push_byte_level(p, prev, b, p.align[prev].begin, out);
        if (b < e) push_byte_level(p, b, e, p.align[b].begin, out);
        prev = e;
      }
      if (prev < p.text.size()) push_byte_level(p, prev, p.text.size(), p.align[prev].begin, out);
    });
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  std::optional<Regex> regex_;
};

SplitBehavior parse_behavior(const JsonNode& node) {
  const std::string b = node.as_string();
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  node.fail(str_cat("unknown split behavior '", b,
                    "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                    "Contiguous)"));
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    MatchList matches;
    std::vector<Segment> segs;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      pattern_.find(p.text, matches);
      segments_from_matches(matches, p.text.size(), segs);
      if (invert_)
        for (Segment& s : segs) s.is_match = !s.is_match;
      split_piece(p, segs, behavior_, out);
    });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits on characters for which Pred holds.
template <typename Pred>
class CharSplitPreTokenizer : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Pred pred, SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Segment> segs;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      segments_from_predicate(p.text, pred_, segs);
      split_piece(p, segs, behavior_, out);
    });
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

template <typename Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, SplitBehavior behavior) {
  return std::make_unique<CharSplitPreTokenizer<Pred>>(pred, behavior);
}

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    MatchList matches;
    std::vector<Segment> segs;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      find_literal(p.text, " ", matches);
      replace_matches(p, matches, replacement_);
      const bool starts = p.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && p.original_shift == 0))) {
        prepend(p, replacement_);
      }
      if (!split_) {
        if (!p.text.empty()) out.push_back(std::move(p));
        return;
      }
      find_literal(p.text, replacement_, matches);
      segments_from_matches(matches, p.text.size(), segs);
      split_piece(p, segs, SplitBehavior::kMergedWithNext, out);
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// HF's Whitespace uses the Rust regex crate (not Oniguruma) for \w+|[^\w\s]+, where \w is
// Alphabetic, marks, decimal digits, connector punctuation and the joiners (U+200C, U+200D). The
// Alphabetic characters outside L, Nl and M are the circled/squared Latin letters listed here.
std::string rust_whitespace_pattern() {
  const std::string word =
      R"(\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\x{24B6}-\x{24E9}\x{1F130}-\x{1F149})"
      R"(\x{1F150}-\x{1F169}\x{1F170}-\x{1F189})";
  return "[" + word + "]+|[^" + word + R"(\s]+)";
}

class WhitespacePreTokenizer : public PreTokenizer {
 public:
  WhitespacePreTokenizer() : regex_(rust_whitespace_pattern()) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    MatchList matches;
    std::vector<Segment> segs;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      regex_.find_all(p.text, matches);
      segments_from_matches(matches, p.text.size(), segs);
      for (Segment& s : segs) s.is_match = !s.is_match;  // keep the matches, drop the rest
      split_piece(p, segs, SplitBehavior::kRemoved, out);
    });
  }

 private:
  Regex regex_;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Segment> segs;
    split_each(pieces, [&](Piece& p, std::vector<Piece>& out) {
      segments_from_predicate(p.text, is_whitespace, segs);
      std::vector<Piece> words;
      split_piece(p, segs, SplitBehavior::kRemoved, words);
      for (const Piece& w : words) {
        segments_from_predicate(w.text, is_punctuation, segs);
        split_piece(w, segs, SplitBehavior::kIsolated, out);
      }
    });
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node) {
  if (node.is_null()) return nullptr;
  node.expect_object();
  const std::string type = node.type();
  if (type == "Sequence") {
    const JsonNode list = node.at("pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_pre_tokenizer(list.at(i));
      if (p) steps.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(node.get_bool_or("add_prefix_space", true),
                                                   node.get_bool_or("use_regex", true));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(parse_pattern(node.at("pattern")),
                                               parse_behavior(node.at("behavior")),
                                               node.get_bool_or("invert", false));
  }
  if (type == "Metaspace") {
    const std::string replacement = node.get_string_or("replacement", "\xE2\x96\x81");
    size_t pos = 0;
    if (replacement.empty() || (next_code_point(replacement, pos), pos != replacement.size()))
      node.at("replacement").fail("the replacement must be exactly one character");
    PrependScheme scheme = PrependScheme::kAlways;
    if (node.has("prepend_scheme")) {
      const JsonNode s = node.at("prepend_scheme");
      const std::string v = s.as_string();
      if (v == "always") {
        scheme = PrependScheme::kAlways;
      } else if (v == "first") {
        scheme = PrependScheme::kFirst;
      } else if (v == "never") {
        scheme = PrependScheme::kNever;
      } else {
        s.fail(str_cat("unknown prepend_scheme '", v, "' (expected always, first or never)"));
      }
    } else if (node.has("add_prefix_space")) {  // the older form of the same setting
      scheme =
          node.at("add_prefix_space").as_bool() ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme,
                                                   node.get_bool_or("split", true));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return char_split(is_whitespace, SplitBehavior::kRemoved);
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Digits") {
    return char_split(is_numeric, node.get_bool_or("individual_digits", false)
                                      ? SplitBehavior::kIsolated
                                      : SplitBehavior::kContiguous);
  }
  if (type == "Punctuation") {
    const SplitBehavior b =
        node.has("behavior") ? parse_behavior(node.at("behavior")) : SplitBehavior::kIsolated;
    return char_split(is_punctuation, b);
  }
  if (type == "CharDelimiterSplit") {
    const std::string d = node.get_string("delimiter");
    size_t pos = 0;
    const char32_t c = d.empty() ? 0 : next_code_point(d, pos);
    if (d.empty() || pos != d.size()) node.at("delimiter").fail("expected exactly one character");
    return char_split([c](char32_t x) { return x == c; }, SplitBehavior::kRemoved);
  }
  node.unsupported("pre_tokenizer", type, kSupportedPreTokenizers);
}

}  // namespace xai::text
