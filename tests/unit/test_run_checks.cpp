// What `xai run` refuses before any work, and how it says so: every configuration error names the
// file, the line and the path of the value (parameter ranges included, which the explainers check).
#include <filesystem>

#include "framework/run/experiment.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;

// Checks an experiment text named exp.yaml from the repository root, as `xai run` would; returns
// the error message ("" if it passed).
std::string check_error(const std::string& yaml) {
  const auto cwd = fs::current_path();
  fs::current_path(XAI_SOURCE_DIR);
  std::string msg;
  try {
    check_experiment(yaml, "exp.yaml");
  } catch (const std::exception& e) {
    msg = e.what();
  }
  fs::current_path(cwd);
  return msg;
}

// The head of the experiments below: one model and the toy task (lines 1-3).
const std::string kHead =
    "name: checks\n"
    "models: [{name: gpt2, path: tests/fixtures/models/gpt2}]\n"
    "dataset: {type: toy, limit: 2}\n";

TEST(RunChecks, ParameterRangeErrorsNameTheFileLineAndPath) {
  struct Case {
    const char* method;
    const char* lines;  // under the explainer, from line 6
    const char* path;   // where the error must point
    const char* says;
  };
  const Case cases[] = {
      {"atman", "factor: -1", "exp.yaml:6: explainers[0].factor: ", "factor must be >= 0"},
      {"atman", "kappa: 2", "exp.yaml:6: explainers[0].kappa: ", "kappa must lie in [-1, 1]"},
      {"atman", "batch_size: 0",
       "exp.yaml:6: explainers[0].batch_size: ", "batch_size must be positive"},
      {"atman", "top_k: -3", "exp.yaml:6: explainers[0].top_k: ", "top_k must be >= 0"},
      {"integrated_gradients", "steps: 0",
       "exp.yaml:6: explainers[0].steps: ", "steps must be >= 1"},
      {"integrated_gradients", "batch_size: 0",
       "exp.yaml:6: explainers[0].batch_size: ", "batch_size must be positive"},
      {"integrated_gradients", "baseline: token\n    baseline_token_id: -4",
       "exp.yaml:7: explainers[0].baseline_token_id: ", "baseline_token_id must be >= 0"},
      {"attattr", "steps: 0", "exp.yaml:6: explainers[0].steps: ", "steps must be positive"},
      {"attattr", "batch_size: -1",
       "exp.yaml:6: explainers[0].batch_size: ", "batch_size must be positive"},
      {"random", "seed: -1", "exp.yaml:6: explainers[0].seed: ", "must be >= 0"},
  };
  for (const Case& c : cases) {
    const std::string msg = check_error(kHead + "explainers:\n  - method: " + c.method +  // 4, 5
                                        "\n    " + c.lines + "\n");                       // 6
    EXPECT_NE(msg.find(c.path), std::string::npos) << c.method << ": " << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // A value in range passes.
  EXPECT_EQ(check_error(kHead + "explainers:\n  - method: atman\n    factor: 0.2\n"), "");
}

TEST(RunChecks, DatasetLimitMustBePositiveNeverAll) {
  for (const char* limit : {"0", "-1"}) {
    const std::string msg =
        check_error(std::string("name: checks\n"
                                "models: [{name: gpt2, path: tests/fixtures/models/gpt2}]\n"
                                "dataset:\n"
                                "  type: jsonl\n"
                                "  path: tests/fixtures/experiments/long.jsonl\n"
                                "  limit: ") +
                    limit + "\nexplainers: [{method: random}]\n");
    EXPECT_NE(msg.find("exp.yaml:6: dataset.limit: must be at least 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("leave limit out"), std::string::npos) << msg;
  }
}

TEST(RunChecks, RuntimeRangeErrorsNameTheFileLineAndPath) {
  const std::string head = kHead + "explainers: [{method: random}]\n";  // lines 1-4
  const std::pair<const char*, const char*> cases[] = {
      {"runtime:\n  threads: -2\n", "exp.yaml:6: runtime.threads: must be >= 0"},
      {"runtime:\n  flush_every: 0\n", "exp.yaml:6: runtime.flush_every: must be positive"},
      {"runtime:\n  rank_timeout: -1\n", "exp.yaml:6: runtime.rank_timeout: must be >= 0"},
      {"runtime:\n  disk_headroom_mb: -1\n", "exp.yaml:6: runtime.disk_headroom_mb: must be >= 0"},
      {"parallel:\n  perturbation: 0\n", "exp.yaml:6: parallel.perturbation: must be >= 1"},
      {"metrics:\n  iq_band: [80, 20]\n", "exp.yaml:6: metrics.iq_band: must be two percentiles"},
      {"metrics:\n  perturbation: {removal: blur}\n", "exp.yaml:6: metrics.perturbation.removal:"},
      {"metrics:\n  perturbation: {eraser: [0, 5]}\n",
       "exp.yaml:6: metrics.perturbation.eraser: must be whole percentages from 1 to 100"},
      {"metrics:\n  perturbation: {removal: zero, token: pad}\n",
       "exp.yaml:6: metrics.perturbation.token: only removal: replace reads a token"},
      {"metrics:\n  perturbation: {removal: replace, token: cls}\n",
       "exp.yaml:6: metrics.perturbation.token: must be unk, pad, mask or a token id"},
      {"metrics:\n  perturbation: {removal: replace, token: mask}\n",
       "exp.yaml:6: metrics.perturbation.token: gpt2: token 'mask': the tokenizer has no mask "
       "token"},
      {"metrics:\n  perturbation: {removal: replace, token: 99999}\n",
       "exp.yaml:6: metrics.perturbation.token: gpt2: token 99999 is outside the model's "
       "vocabulary of"},
  };
  for (const auto& [tail, says] : cases) {
    const std::string msg = check_error(head + tail);
    EXPECT_NE(msg.find(says), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace xai
