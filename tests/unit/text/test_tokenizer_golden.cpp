// Every fixture tokenizer against the Hugging Face library's own output (golden.json, written by
// tests/reference/tokenizer_fixtures.py): ids, tokens, byte offsets and decoded text.
#include "tests/unit/text/golden.h"

namespace xai {
namespace {

using testing::expect_matches_golden;
using testing::expect_round_trip;

TEST(ByteLevelBpe, MatchesHuggingFaceIdsAndOffsets) { expect_matches_golden("byte_level_bpe"); }
TEST(ByteLevelBpe, DecodeRoundTripsEveryGoldenString) { expect_round_trip("byte_level_bpe"); }

TEST(Llama3Style, MatchesHuggingFaceIdsAndOffsets) { expect_matches_golden("llama3_style"); }
TEST(Llama3Style, DecodeRoundTripsEveryGoldenString) { expect_round_trip("llama3_style"); }

TEST(Llama2Metaspace, MatchesHuggingFaceIdsAndOffsets) {
  expect_matches_golden("llama2_metaspace");
}

TEST(MetaspacePreTokenizer, MatchesHuggingFaceIdsAndOffsets) {
  expect_matches_golden("metaspace_pretok");
}

TEST(WordPieceBert, MatchesHuggingFaceIdsAndOffsets) { expect_matches_golden("wordpiece_bert"); }

TEST(RobertaStyle, MatchesHuggingFaceIdsAndTrimmedOffsets) {
  expect_matches_golden("roberta_style");
}

TEST(BpeSuffixPrefix, MatchesHuggingFaceIdsAndOffsets) {
  expect_matches_golden("bpe_suffix_prefix");
}

TEST(WordLevel, MatchesHuggingFaceIdsAndOffsets) { expect_matches_golden("word_level"); }

}  // namespace
}  // namespace xai
