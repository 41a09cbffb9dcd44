// Segments (framework/text/segments.h): words, sentences, paragraphs, pattern pieces and auto over
// hand-made token spans (each expectation written out), then over a real byte-level BPE
// tokenizer's encoding, where every segment must be made of whole tokens whose text lies inside
// its span.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "framework/common/error.h"
#include "framework/text/encoded.h"
#include "framework/text/segments.h"
#include "framework/text/tokenizer.h"

namespace xai {
namespace {

// A sample whose tokens are the given pieces of `text`, in order (their spans found left to
// right), every one explained, then one target.
Encoded from_pieces(const std::string& text, const std::vector<std::string>& pieces) {
  Encoded e;
  size_t at = 0;
  for (const std::string& p : pieces) {
    const size_t b = text.find(p, at);
    EXPECT_NE(b, std::string::npos) << p;
    e.offsets.push_back({static_cast<int64_t>(b), static_cast<int64_t>(b + p.size())});
    e.tokens.push_back(p);
    e.ids.push_back(static_cast<int64_t>(e.ids.size()) + 5);
    at = b + p.size();
  }
  e.prompt_len = static_cast<int64_t>(pieces.size());
  e.explain_mask.assign(pieces.size(), 1);
  e.target_ids = {1};
  return e;
}

// The segments' texts and their positions as "first-end".
std::vector<std::string> texts(const std::string& text, const std::vector<Segment>& s) {
  std::vector<std::string> out;
  for (const Segment& g : s) out.push_back(text.substr(g.span.begin, g.span.end - g.span.begin));
  return out;
}
std::vector<std::string> ranges(const std::vector<Segment>& s) {
  std::vector<std::string> out;
  for (const Segment& g : s) out.push_back(std::to_string(g.first) + "-" + std::to_string(g.end));
  return out;
}

std::vector<Segment> at(const std::string& text, const Encoded& e, const std::string& g) {
  return make_segments(text, e, parse_granularity(g)).segments;
}

using V = std::vector<std::string>;

TEST(Segments, WordsKeepApostrophesNumbersAndTokensWhole) {
  const std::string text = "Don't pay 3.14 dollars, ok?! 東京";
  // Word pieces split as a BPE would: "Don", "'t", " pay", " 3", ".", "14", ...
  const Encoded e = from_pieces(
      text, {"Don", "'t", " pay", " 3", ".", "14", " doll", "ars", ",", " ok", "?!", " 東", "京"});
  const auto s = at(text, e, "word");
  EXPECT_EQ(texts(text, s), (V{"Don't", "pay", "3.14", "dollars", ",", "ok", "?!", "東", "京"}));
  EXPECT_EQ(ranges(s), (V{"0-2", "2-3", "3-6", "6-8", "8-9", "9-10", "10-11", "11-12", "12-13"}));
  // A token that spans a word boundary goes with the word of its first non-space byte.
  const Encoded f = from_pieces("ab, cd", {"ab", ", c", "d"});
  EXPECT_EQ(texts("ab, cd", at("ab, cd", f, "word")), (V{"ab", ", c", "d"}));
}

TEST(Segments, SentencesEndAtTerminalsWithClosersAndAtBlankLines) {
  const std::string text = "He said \"Go.\" Then 3.5 m left! Why?\n\nNew part";
  const Encoded e = from_pieces(text, {"He", " said", " \"", "Go", ".\"", " Then", " 3", ".", "5",
                                       " m", " left", "!", " Why", "?\n\n", "New", " part"});
  EXPECT_EQ(texts(text, at(text, e, "sentence")),
            (V{"He said \"Go.\"", "Then 3.5 m left!", "Why?", "New part"}));
  EXPECT_EQ(texts(text, at(text, e, "paragraph")),
            (V{"He said \"Go.\" Then 3.5 m left! Why?", "New part"}));
  // One line break ends no paragraph; terminal punctuation before it ends a sentence.
  const std::string two = "Context: a b.\nQuestion: c?\nAnswer:";
  const Encoded g = from_pieces(
      two, {"Context", ":", " a", " b", ".\n", "Question", ":", " c", "?\n", "Answer", ":"});
  EXPECT_EQ(texts(two, at(two, g, "sentence")), (V{"Context: a b.", "Question: c?", "Answer:"}));
  EXPECT_EQ(at(two, g, "paragraph").size(), 1u);
}

TEST(Segments, RegexPiecesEndAfterEachMatch) {
  const std::string text = "red, green; blue";
  const Encoded e = from_pieces(text, {"red", ",", " green", ";", " blue"});
  EXPECT_EQ(texts(text, at(text, e, "regex:[,;]")), (V{"red,", "green;", "blue"}));
}

TEST(Segments, UnexplainedTokensAndSpecialTokensSplitSegments) {
  const std::string text = "one two three";
  Encoded e = from_pieces(text, {"one", " two", " three"});
  // A BOS (no bytes) in front, explained: a segment of its own; an unexplained token ends a run.
  e.offsets.insert(e.offsets.begin(), ByteSpan{0, 0});
  e.tokens.insert(e.tokens.begin(), "<s>");
  e.ids.insert(e.ids.begin(), 1);
  e.explain_mask = {1, 1, 0, 1};
  e.prompt_len = 4;
  const auto s = at(text, e, "paragraph");
  EXPECT_EQ(ranges(s), (V{"0-1", "1-2", "3-4"}));
  EXPECT_EQ(s[0].span.begin, s[0].span.end);
  // A text pair: the second text starts a new unit even inside a sentence.
  Encoded p = from_pieces("a b\nc d", {"a", " b", "\n", "c", " d"});
  p.token_types = {0, 0, 0, 1, 1};
  EXPECT_EQ(texts("a b\nc d", at("a b\nc d", p, "paragraph")), (V{"a b", "c d"}));
}

TEST(Segments, AutoPicksTheFinestLevelWithAtMostNSegments) {
  const std::string text = "Ab c. D e f.\n\nG h.";  // 11 tokens, 10 words, 3 sentences
  const Encoded e =
      from_pieces(text, {"A", "b", " c", ".", " D", " e", " f", ".\n\n", "G", " h", "."});
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:11")).level, "token");
  EXPECT_TRUE(make_segments(text, e, parse_granularity("auto:20")).segments.empty());
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:10")).level, "word");
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:9")).level, "sentence");
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:3")).level, "sentence");
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:2")).level, "paragraph");
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:1")).level, "paragraph");
  EXPECT_EQ(make_segments(text, e, parse_granularity("auto:1")).segments.size(), 2u);
}

TEST(Segments, BadGranularitiesSayWhatIsAccepted) {
  for (const char* bad : {"words", "auto:", "auto:0", "auto:x", "regex:", "regex:[a"}) {
    try {
      parse_granularity(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("granularity"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_granularity("regex:[,;]").name(), "regex:[,;]");
  EXPECT_EQ(parse_granularity("auto:30").max_segments, 30);
  Encoded image;
  image.pixels = std::make_shared<const std::vector<float>>(12, 0.0f);
  EXPECT_THROW(make_segments("", image, parse_granularity("word")), Error);
  EXPECT_TRUE(make_segments("", image, parse_granularity("token")).segments.empty());
}

// A real byte-level BPE tokenizer: segments are runs of whole consecutive explained tokens, each
// token's non-space text inside its segment's span, and words never cross whitespace.
TEST(Segments, WholeTokensOfARealTokenizer) {
  const Tokenizer tok = Tokenizer::from_file(std::string(XAI_SOURCE_DIR) +
                                             "/tests/fixtures/tokenizers/byte_level_bpe/"
                                             "tokenizer.json");
  const std::string text =
      "The tower is 324 metres tall. It was the tallest man-made structure!\n\nIn 1930, "
      "the Chrysler Building overtook it. Isn't that so?";
  const Encoding enc = tok.encode(text, false);
  Encoded e;
  e.ids = enc.ids;
  e.offsets = enc.offsets;
  e.tokens = enc.tokens;
  e.prompt_len = static_cast<int64_t>(e.ids.size());
  e.explain_mask.assign(e.ids.size(), 1);
  const std::vector<size_t> want_counts = {0, 0, 4, 2};
  size_t k = 0;
  for (const char* g : {"word", "sentence", "paragraph"}) {
    ++k;
    const auto s = at(text, e, g);
    int64_t next = 0;
    for (const Segment& seg : s) {
      EXPECT_EQ(seg.first, next) << g;  // consecutive, nothing skipped
      next = seg.end;
      for (int64_t i = seg.first; i < seg.end; ++i) {
        const ByteSpan b = e.offsets[static_cast<size_t>(i)];
        int64_t first = b.begin;
        while (first < b.end && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
        if (first == b.end) continue;  // a whitespace token: no text to place
        EXPECT_GE(first, seg.span.begin) << g << " token " << i;
        EXPECT_LE(first, seg.span.end) << g << " token " << i;
      }
      const std::string t = text.substr(seg.span.begin, seg.span.end - seg.span.begin);
      if (std::string(g) == "word") {
        EXPECT_EQ(t.find(' '), std::string::npos) << t;
      }
    }
    EXPECT_EQ(next, e.prompt_len) << g;
    if (want_counts[k] > 0) {
      EXPECT_EQ(s.size(), want_counts[k]) << g;
    }
  }
  EXPECT_EQ(texts(text, at(text, e, "sentence")).back(), "Isn't that so?");
}

}  // namespace
}  // namespace xai
