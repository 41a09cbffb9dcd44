// "Nothing lost, nothing mixed": what a run does with damaged inputs, changed checkpoints and a
// folder that changes under it. Each test here failed before the fix it pins.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "framework/io/results_reader.h"
#include "framework/run/experiment.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/explainer.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

// A copy of a fixture model folder in `dst` with `edit` applied to tensor `name`.
void copy_model_with(const std::string& fixture, const std::string& dst, const std::string& name,
                     const std::function<void(at::Tensor&)>& edit) {
  const std::string src = std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/" + fixture;
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() != "model.safetensors")
      fs::copy(e.path(), dst + "/" + e.path().filename().string());
  }
  auto f = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  bool found = false;
  for (const TensorInfo& t : f->tensors()) {
    at::Tensor v = f->get(t.name).clone();
    if (t.name == name) {
      edit(v);
      found = true;
    }
    tensors.emplace_back(t.name, v);
  }
  ASSERT_TRUE(found) << name;
  write_safetensors(dst + "/model.safetensors", tensors, f->metadata());
}

// An experiment file in `dir` on one model folder, run from the repository root.
std::string experiment(const TempDir& dir, const std::string& model_path,
                       const std::string& explainers, int limit = 2) {
  const std::string path = dir.file("exp.yaml");
  std::ofstream(path) << "name: integrity\n"
                      << "output: " << dir.file("out") << "\n"
                      << "models:\n  - {name: m, path: " << model_path << "}\n"
                      << "dataset: {type: toy, limit: " << limit << "}\n"
                      << "explainers: " << explainers << "\n"
                      << "runtime: {threads: 1, progress: off}\n";
  return path;
}

RunResult run(const std::string& yaml, std::vector<std::string> overrides = {}, bool resume = false,
              std::string* log_text = nullptr) {
  std::ostringstream log;
  RunOptions o;
  o.overrides = std::move(overrides);
  o.resume = resume;
  o.log = &log;
  const auto cwd = fs::current_path();
  fs::current_path(XAI_SOURCE_DIR);
  struct Back {
    fs::path cwd;
    std::ostringstream& log;
    std::string* out;
    ~Back() {
      fs::current_path(cwd);
      if (out) *out = log.str();
    }
  } back{cwd, log, log_text};
  return run_experiment(yaml, o);
}

TEST(RunIntegrity, NonFiniteLogitsOrRelevanceAreRecordedFailuresNotResults) {
  TempDir dir;
  const std::string model = dir.file("nan_gpt2");
  // One NaN in the first attention projection: every logit and every attention map is NaN.
  copy_model_with("gpt2", model, "transformer.h.0.attn.c_attn.weight",
                  [](at::Tensor& w) { w.view(-1)[0] = NAN; });
  const RunResult r = run(experiment(dir, model,
                                     "[{method: atman, kappa: off}, {method: attention}, "
                                     "{method: input_x_gradient}, {method: random}]"));
  EXPECT_EQ(r.failures, 6);  // 2 samples x (atman, attention, input_x_gradient)
  // AtMan's inference path failed too: its fast attention kernel no longer hides the NaN.
  ResultsReader reader(r.results_h5);
  std::map<std::string, int> reasons;
  for (const Failure& f : reader.failures()) {
    if (f.message.find("logits are not finite") != std::string::npos) ++reasons["logits"];
    if (f.message.find("non-finite scores") != std::string::npos) ++reasons["scores"];
  }
  // Every method that runs the model stops at its logits (attention too: its forward computes
  // them); non_finite_reason, for scores that go wrong after finite logits, is pinned below.
  EXPECT_EQ(reasons["logits"], 6);
  // Nothing non-finite was stored; random does not read the model and is stored.
  const auto stored = reader.explainers("m");
  EXPECT_NE(std::find(stored.begin(), stored.end(), "random"), stored.end());
  for (const std::string& e : stored) {
    const ExplainerTable t = reader.explainer("m", e);
    EXPECT_EQ(t.rows(), e == "random" ? 2u : 0u) << e;
  }
}

TEST(RunIntegrity, NonFiniteReasonNamesWhatHoldsNanOrInf) {
  Explanation ex;
  ex.relevance = at::zeros({4});
  ex.per_target = at::zeros({1, 4});
  EXPECT_EQ(non_finite_reason(ex), "");
  ex.extras["delta"] = at::tensor({1.0f, INFINITY});
  EXPECT_NE(non_finite_reason(ex).find("the extra 'delta' holds 0 NaN and 1 infinite of 2"),
            std::string::npos)
      << non_finite_reason(ex);
  ex.relevance[2] = NAN;
  EXPECT_NE(non_finite_reason(ex).find("the relevance holds 1 NaN and 0 infinite of 4"),
            std::string::npos);
}

}  // namespace
}  // namespace xai
