// Conversations in a run: JSONL lines with "messages" are rendered with each model's chat
// template (stored as the sample's prompt), their user turns explained and nothing else, and a
// line that also gives byte spans is refused (they would depend on the template).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "framework/io/results_reader.h"
#include "framework/text/chat.h"
#include "framework/text/tokenizer.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

TEST(ChatRun, ConversationsAreRenderedPerModelAndTheirUserTurnsExplained) {
  test::TempDir dir;
  const std::string model = dir.file("model");
  std::filesystem::create_directories(model);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    std::filesystem::copy_file(std::string(XAI_SOURCE_DIR) + "/datasets/toy/models/toy_gpt2/" + f,
                               model + "/" + f);
  }
  std::ofstream(model + "/tokenizer_config.json")
      << R"({"bos_token": "<|endoftext|>", "chat_template": "{{ bos_token }}{% for m in messages %})"
         R"({{ m['role'] }}: {{ m['content'] }}\n{% endfor %}Answer:"})";
  std::ofstream(dir.file("chat.jsonl"))
      << R"({"id": "a", "messages": [{"role": "system", "content": "Leo works in Perth."}, )"
         R"({"role": "user", "content": "Mara works in Rome."}], "target": " Rome"})"
         "\n"
      << R"({"id": "b", "messages": [{"role": "user", "content": "Ben works in Lima."}], )"
         R"("target": " Lima", "evidence": [[0, 3]]})"
         "\n";
  std::ofstream(dir.file("exp.yaml"))
      << "name: chat\nmodels: [{name: toy, path: " << model
      << "}]\ndataset: {type: jsonl, path: " << dir.file("chat.jsonl")
      << "}\nexplainers: [{name: saliency}]\n"
         "runtime: {threads: 1, progress: off}\n";
  const RunResult r = test::run_at_root(dir.file("exp.yaml"), {"output=" + dir.file("out")});
  EXPECT_EQ(r.failures, 1);  // line b: spans in a conversation
  const ResultsReader reader(r.results_h5);
  const SampleTable st = reader.samples("toy");
  ASSERT_EQ(st.ids.size(), 1u);
  EXPECT_EQ(st.prompts[0],
            "<|endoftext|>system: Leo works in Perth.\nuser: Mara works in Rome.\nAnswer:");
  const std::string turn = "Mara works in Rome.";
  const int64_t begin = static_cast<int64_t>(st.prompts[0].find(turn));
  for (int64_t t = 0; t < st.prompt_len[0]; ++t) {
    const int64_t b = st.token_offsets.row_data(0)[2 * t],
                  e = st.token_offsets.row_data(0)[2 * t + 1];
    const bool in_turn = b >= begin - 1 && e <= begin + static_cast<int64_t>(turn.size());
    EXPECT_EQ(st.explain_mask.row_data(0)[t] != 0, in_turn && e > b) << "token " << t;
  }
  bool said = false;
  for (const Failure& f : reader.failures())
    said = said || f.message.find("a conversation has no 'evidence'") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace xai
