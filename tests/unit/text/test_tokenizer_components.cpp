// Normalizers, pre-tokenizers and decoders one at a time, against the Hugging Face library's
// output for the same configuration (tests/fixtures/tokenizers/components/*.json).
#include "framework/text/components.h"
#include "tests/unit/text/golden.h"

namespace xai {
namespace {

using testing::escaped;
using testing::fixture_dir;
using testing::read_json;
using testing::show;
using testing::spans_from_flat;

ByteSpan span_of(const text::Piece& p, size_t begin, size_t end) {
  const text::Align a = text::original_span(p, begin, end);
  return {a.begin, a.end};
}

TEST(Normalizers, MatchHuggingFaceTextAndAlignment) {
  const nlohmann::json all = read_json(fixture_dir("components") + "/normalizers.json");
  const std::string source = "normalizers.json";
  ASSERT_FALSE(all.empty());
  for (const auto& entry : all) {
    SCOPED_TRACE("normalizer " + entry.at("normalizer").dump());
    const auto normalizer =
        text::make_normalizer(text::JsonNode(entry.at("normalizer"), "normalizer", source));
    ASSERT_NE(normalizer, nullptr);
    for (const auto& c : entry.at("cases")) {
      const std::string input = c.at("text").get<std::string>();
      SCOPED_TRACE("text \"" + escaped(input) + "\"");
      text::Piece p = text::make_root_piece(input);
      normalizer->normalize(p);
      ASSERT_EQ(p.text, c.at("normalized").get<std::string>());
      ASSERT_EQ(p.align.size(), p.text.size());
      // One span per normalized character: the original bytes it came from.
      const std::vector<ByteSpan> want = spans_from_flat(c.at("spans"));
      size_t k = 0;
      for (size_t i = 0; i < p.text.size(); ++k) {
        const size_t begin = i;
        text::next_code_point(p.text, i);
        ASSERT_LT(k, want.size());
        EXPECT_EQ(span_of(p, begin, i), want[k])
            << "character " << k << ": got " << show(span_of(p, begin, i)) << ", want "
            << show(want[k]);
      }
      EXPECT_EQ(k, want.size());
    }
  }
}

TEST(PreTokenizers, MatchHuggingFacePiecesAndSpans) {
  const nlohmann::json all = read_json(fixture_dir("components") + "/pre_tokenizers.json");
  const std::string source = "pre_tokenizers.json";
  ASSERT_FALSE(all.empty());
  for (const auto& entry : all) {
    SCOPED_TRACE("pre_tokenizer " + entry.at("pre_tokenizer").dump());
    const auto pre = text::make_pre_tokenizer(
        text::JsonNode(entry.at("pre_tokenizer"), "pre_tokenizer", source));
    ASSERT_NE(pre, nullptr);
    for (const auto& c : entry.at("cases")) {
      const std::string input = c.at("text").get<std::string>();
      SCOPED_TRACE("text \"" + escaped(input) + "\"");
      std::vector<text::Piece> pieces;
      text::Piece root = text::make_root_piece(input);
      if (!root.text.empty()) pieces.push_back(std::move(root));
      pre->pre_tokenize(pieces);
      std::vector<std::string> texts;
      std::vector<ByteSpan> spans;
      for (const text::Piece& p : pieces) {
        texts.push_back(p.text);
        spans.push_back(span_of(p, 0, p.text.size()));
      }
      EXPECT_EQ(texts, c.at("pieces").get<std::vector<std::string>>());
      EXPECT_EQ(spans, spans_from_flat(c.at("spans")));
    }
  }
}

TEST(Decoders, MatchHuggingFaceDecodedText) {
  const nlohmann::json all = read_json(fixture_dir("components") + "/decoders.json");
  const std::string source = "decoders.json";
  ASSERT_FALSE(all.empty());
  for (const auto& entry : all) {
    SCOPED_TRACE("decoder " + entry.at("decoder").dump());
    const auto decoder = text::make_decoder(text::JsonNode(entry.at("decoder"), "decoder", source));
    ASSERT_NE(decoder, nullptr);
    for (const auto& c : entry.at("cases")) {
      SCOPED_TRACE("tokens " + c.at("tokens").dump());
      auto tokens = c.at("tokens").get<std::vector<std::string>>();
      decoder->decode_chain(tokens);
      std::string decoded;
      for (const std::string& t : tokens) decoded += t;
      EXPECT_EQ(decoded, c.at("decoded").get<std::string>());
    }
  }
}

}  // namespace
}  // namespace xai
