// Text pairs (premise + hypothesis) against the Hugging Face tokenizers library
// (tests/reference/pair_fixtures.py): ids, token types, which text each token came from, and
// offsets into its own text, with and without special tokens, for every post-processor kind.
#include "tests/unit/text/golden.h"

namespace xai::testing {
namespace {

TEST(TokenizerPairs, EveryPostProcessorJoinsPairsAsHuggingFaceDoes) {
  const nlohmann::json all = read_json(fixture_dir("pairs.json"));
  int checked = 0;
  for (auto it = all.begin(); it != all.end(); ++it) {
    const Tokenizer tok = Tokenizer::from_file(fixture_dir(it.key()) + "/tokenizer.json");
    for (const auto& c : it.value()) {
      const std::string a = c["a"], b = c["b"];
      const Encoding e = tok.encode_pair(a, b, c["special"].get<bool>());
      const std::string what = it.key() + " '" + escaped(a) + "' + '" + escaped(b) + "'" +
                               (c["special"].get<bool>() ? "" : " (no special tokens)");
      EXPECT_EQ(e.ids, c["ids"].get<std::vector<int64_t>>()) << what;
      EXPECT_EQ(std::vector<int>(e.type_ids.begin(), e.type_ids.end()),
                c["type_ids"].get<std::vector<int>>())
          << what;
      EXPECT_EQ(std::vector<int>(e.sequence_ids.begin(), e.sequence_ids.end()),
                c["sequence_ids"].get<std::vector<int>>())
          << what;
      std::vector<int64_t> offsets;
      for (const ByteSpan& s : e.offsets) {
        offsets.push_back(s.begin);
        offsets.push_back(s.end);
      }
      EXPECT_EQ(offsets, c["offsets"].get<std::vector<int64_t>>()) << what;
      ++checked;
    }
  }
  EXPECT_GE(checked, 60);
}

TEST(TokenizerPairs, ASequenceOfPostProcessorsRefusesPairsInOneLine) {
  const Tokenizer tok = Tokenizer::from_file(fixture_dir("llama3_style") + "/tokenizer.json");
  try {
    tok.encode_pair("a", "b");
    ADD_FAILURE() << "expected an exception";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no pair layout"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xai::testing
