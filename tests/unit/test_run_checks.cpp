// What `xai run` refuses before any work, and how it says so: every configuration error names the
// file, the line and the path of the value (parameter ranges included, which the explainers check).
#include <filesystem>

#include "framework/run/experiment.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;

// An experiment whose line 9 is `key: value` under explainers[0] (method `method`), checked from
// the repository root as `xai run` would; returns the error message ("" if it passed).
std::string check_param(const std::string& method, const std::string& key,
                        const std::string& value) {
  const std::string yaml =
      "name: checks\n"                                        // 1
      "models:\n"                                             // 2
      "  - {name: gpt2, path: tests/fixtures/models/gpt2}\n"  // 3
      "dataset:\n"                                            // 4
      "  type: toy\n"                                         // 5
      "  limit: 2\n"                                          // 6
      "explainers:\n"                                         // 7
      "  - method: " +
      method +
      "\n"  // 8
      "    " +
      key + ": " + value + "\n";  // 9
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

TEST(RunChecks, ParameterRangeErrorsNameTheFileLineAndPath) {
  struct Case {
    const char* method;
    const char* key;
    const char* value;
    const char* says;
  };
  const Case cases[] = {
      {"atman", "factor", "-1", "factor must be >= 0"},
      {"atman", "kappa", "2", "kappa must lie in [-1, 1]"},
      {"atman", "batch_size", "0", "batch_size must be positive"},
      {"atman", "top_k", "-3", "top_k must be >= 0"},
      {"integrated_gradients", "steps", "0", "steps must be >= 1"},
      {"integrated_gradients", "batch_size", "0", "batch_size must be positive"},
      {"integrated_gradients", "baseline", "token\n    baseline_token_id: -4",
       "baseline_token_id must be >= 0"},
      {"attattr", "steps", "0", "steps must be positive"},
      {"attattr", "batch_size", "-1", "batch_size must be positive"},
      {"random", "seed", "-1", "must be >= 0"},
  };
  for (const Case& c : cases) {
    const std::string msg = check_param(c.method, c.key, c.value);
    const std::string key = std::string(c.key) == "baseline" ? "baseline_token_id" : c.key;
    const std::string at = std::string(c.key) == "baseline" ? "10" : "9";
    EXPECT_NE(msg.find("exp.yaml:" + at + ": explainers[0]." + key + ": "), std::string::npos)
        << c.method << "." << c.key << ": " << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_EQ(check_param("atman", "factor", "0.2"), "");  // and a value in range passes
}

TEST(RunChecks, DatasetLimitMustBePositiveNeverAll) {
  for (const char* limit : {"0", "-1"}) {
    const std::string yaml = std::string(
                                 "name: checks\n"
                                 "models:\n"
                                 "  - {name: gpt2, path: tests/fixtures/models/gpt2}\n"
                                 "dataset:\n"
                                 "  type: jsonl\n"
                                 "  path: tests/fixtures/experiments/long.jsonl\n"
                                 "  limit: ") +
                             limit + "\nexplainers: [{method: random}]\n";
    const auto cwd = fs::current_path();
    fs::current_path(XAI_SOURCE_DIR);
    std::string msg;
    try {
      check_experiment(yaml, "exp.yaml");
    } catch (const std::exception& e) {
      msg = e.what();
    }
    fs::current_path(cwd);
    EXPECT_NE(msg.find("exp.yaml:7: dataset.limit: must be at least 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("leave limit out"), std::string::npos) << msg;
  }
}

TEST(RunChecks, RuntimeRangeErrorsNameTheFileLineAndPath) {
  const std::string base =
      "name: checks\n"
      "models:\n"
      "  - {name: gpt2, path: tests/fixtures/models/gpt2}\n"
      "dataset: {type: toy, limit: 2}\n"
      "explainers: [{method: random}]\n";
  const std::pair<const char*, const char*> cases[] = {
      {"runtime:\n  threads: -2\n", "exp.yaml:7: runtime.threads: must be >= 0"},
      {"runtime:\n  flush_every: 0\n", "exp.yaml:7: runtime.flush_every: must be positive"},
      {"runtime:\n  rank_timeout: -1\n", "exp.yaml:7: runtime.rank_timeout: must be >= 0"},
      {"parallel:\n  perturbation: 0\n", "exp.yaml:7: parallel.perturbation: must be >= 1"},
      {"metrics:\n  iq_band: [80, 20]\n", "exp.yaml:7: metrics.iq_band: must be two percentiles"},
  };
  for (const auto& [tail, says] : cases) {
    const auto cwd = fs::current_path();
    fs::current_path(XAI_SOURCE_DIR);
    std::string msg;
    try {
      check_experiment(base + tail, "exp.yaml");
    } catch (const std::exception& e) {
      msg = e.what();
    }
    fs::current_path(cwd);
    EXPECT_NE(msg.find(says), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace xai
