// The memory planner: estimates for every (model, explainer) on the longest sample, without loading
// weights; a default batch lowered to fit, a user's batch kept and refused; a run that cannot fit
// refused before any work with one line naming the model, the method, the need and the budget.
#include <filesystem>
#include <fstream>

#include "framework/config/config.h"
#include "framework/run/experiment.h"
#include "framework/run/memory_plan.h"
#include "framework/run/plan.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

// An experiment on one synthetic model over a JSONL of prompts of the given lengths (bytes; the
// byte tokenizer makes a prompt of n bytes n + 1 tokens, and the target " q" adds one more).
std::string experiment(const TempDir& dir, const std::vector<int>& lengths,
                       const std::string& explainers, const std::string& runtime = "") {
  std::ofstream data(dir.file("data.jsonl"));
  for (size_t i = 0; i < lengths.size(); ++i) {
    data << "{\"id\": \"s" << i << "\", \"prompt\": \"" << std::string(lengths[i], 'a')
         << "\", \"target\": \" q\"}\n";
  }
  data.close();
  const std::string yaml = dir.file("exp.yaml");
  test::write_file(yaml, "name: mem\noutput: " + dir.path() + "/out\n" +
                             "models:\n"
                             "  - name: m\n"
                             "    synthetic: {family: gpt2, layers: 2, hidden: 64, heads: 4,"
                             " vocab: 512, max_positions: 1024}\n"
                             "dataset: {type: jsonl, path: " + dir.file("data.jsonl") + "}\n" +
                             "explainers: " + explainers + "\n" +
                             "runtime: {threads: 1, progress: off" + runtime + "}\n");
  return yaml;
}

const MemoryPlanRow& row(const MemoryPlan& p, const std::string& explainer) {
  for (const auto& r : p.rows) {
    if (r.explainer == explainer) return r;
  }
  throw std::runtime_error("no row " + explainer);
}

TEST(MemoryPlan, EveryPairIsEstimatedOnTheLongestSampleWithoutLoadingWeights) {
  TempDir dir;
  const std::string yaml = experiment(
      dir, {10, 300, 40},
      "[{method: atman}, {method: chefer}, {method: integrated_gradients}, {method: random}]");
  const Plan plan = read_plan(yaml, {});
  const MemoryPlan mp = plan_memory(plan, at::kCPU, 1);
  ASSERT_EQ(mp.rows.size(), 4u);
  for (const auto& r : mp.rows) {
    EXPECT_EQ(r.tokens, 302) << r.explainer;  // BOS + 300 bytes + the target's first token
    EXPECT_EQ(r.longest_id, "s1");
    EXPECT_EQ(r.dtype, "float32");
    EXPECT_TRUE(r.fits);
  }
  // The weights of a gpt2 shape: tokens + positions + 2 layers + final norm, in float32.
  const double params = 512 * 64 + 1024 * 64 + 2 * (4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 +
                                                    64 * 256 + 256 + 256 * 64 + 64) +
                        2 * 64;
  EXPECT_DOUBLE_EQ(row(mp, "atman").weights, params * 4);
  EXPECT_EQ(row(mp, "random").explanation, 0);
  EXPECT_EQ(row(mp, "atman").knob, "batch_size");
  EXPECT_EQ(row(mp, "atman").units, 8);
  EXPECT_EQ(row(mp, "chefer").knob, "");
  // A gradient method keeps every layer's tensors: more than AtMan's one batch row.
  EXPECT_GT(row(mp, "chefer").explanation, 0);
  const std::string table = memory_plan_table(mp);
  EXPECT_NE(table.find("budget per rank"), std::string::npos) << table;
  EXPECT_NE(table.find("integrated_gradients"), std::string::npos) << table;

  // Longer inputs need more; bfloat16 weights halve the weights.
  TempDir dir2;
  const Plan longer = read_plan(
      experiment(dir2, {900}, "[{method: atman}, {method: chefer}, {method: integrated_gradients},"
                              " {method: random}]"),
      {"models[0].dtype=bfloat16"});
  const MemoryPlan mp2 = plan_memory(longer, at::kCPU, 1);
  for (const char* x : {"atman", "chefer", "integrated_gradients"}) {
    EXPECT_GT(row(mp2, x).explanation, row(mp, x).explanation) << x;
  }
  EXPECT_DOUBLE_EQ(row(mp2, "atman").weights, params * 2);
  EXPECT_EQ(row(mp2, "atman").dtype, "bfloat16");
}

TEST(MemoryPlan, ADefaultBatchIsLoweredToFitAndAGivenOneIsRefusedWithItsWayOut) {
  TempDir dir;
  const std::string yaml =
      experiment(dir, {500}, "[{name: a, method: atman}, {name: b, method: atman, batch_size: 8}]");
  Plan plan = read_plan(yaml, {});
  const MemoryPlan loose = plan_memory(plan, at::kCPU, 1);
  const MemoryPlanRow& a = row(loose, "a");
  ASSERT_GT(a.explanation, 0);
  // A budget for three and a half perturbed rows: a lowered to three, b refused.
  ASSERT_GT(a.per_unit, 0);
  EXPECT_DOUBLE_EQ(a.explanation, a.fixed + 8 * a.per_unit);
  const double budget = a.weights + a.fixed + 3.5 * a.per_unit;
  plan = read_plan(yaml, {"runtime.memory_budget=" + std::to_string(static_cast<int64_t>(budget))});
  const MemoryPlan tight = plan_memory(plan, at::kCPU, 1);
  EXPECT_EQ(row(tight, "a").units, 3);
  EXPECT_TRUE(row(tight, "a").fits);
  EXPECT_LE(row(tight, "a").total(), tight.budget);
  ASSERT_EQ(tight.notes.size(), 1u);
  EXPECT_NE(tight.notes[0].find("a on m: batch_size 8 -> "), std::string::npos) << tight.notes[0];
  const MemoryPlanRow* refused = tight.first_refused();
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->explainer, "b");
  for (const char* says :
       {"model m, explainer b (atman): needs ", "more than the budget of ",
        "runtime.memory_budget ", "HINT: ", "a smaller batch_size than 8",
        "the longest, sample 's0', has 502 tokens"}) {
    EXPECT_NE(refused->refusal.find(says), std::string::npos) << says << ": " << refused->refusal;
  }
  EXPECT_EQ(refused->refusal.find('\n'), std::string::npos);
  // Applied, the lowered batch is the explainer's own.
  apply_memory_plan(plan, tight);
  EXPECT_NE(plan.explainers[0].impl->params_json().find(
                "\"batch_size\":" + std::to_string(row(tight, "a").units)),
            std::string::npos)
      << plan.explainers[0].impl->params_json();
}

TEST(MemoryPlan, ARunThatCannotFitIsRefusedBeforeAnyWork) {
  TempDir dir;
  const std::string yaml =
      experiment(dir, {200}, "[{method: chefer}]", ", memory_budget: 1MB");
  expect_error([&] { test::run_at_root(yaml); },
               {"exp.yaml: model m, explainer", "needs", "more than the budget of 1 MB",
                "runtime.memory_budget 1MB", "a forward-only method"});
  EXPECT_FALSE(fs::exists(dir.path() + "/out"));  // nothing was started
  // Ranks on one node share its memory: the auto budget is divided among them.
  const Plan plan = read_plan(experiment(dir, {200}, "[{method: attention}]"), {});
  std::string one, four;
  const double b1 = memory_budget_bytes(plan, at::kCPU, 1, &one);
  const double b4 = memory_budget_bytes(plan, at::kCPU, 4, &four);
  EXPECT_GT(b1, 0);
  EXPECT_NEAR(b4 * 4, b1, b1 * 0.05);  // MemAvailable moves a little between the two reads
  EXPECT_NE(four.find("shared by 4 ranks"), std::string::npos) << four;
  EXPECT_NE(one.find("90% of "), std::string::npos) << one;
}

TEST(MemoryPlan, BadBudgetsAreNamedWithTheirLine) {
  TempDir dir;
  for (const char* bad : {"lots", "150%", "0%", "0GB", "-3GB"}) {
    const std::string yaml = experiment(dir, {20}, "[{method: atman}]",
                                        std::string(", memory_budget: '") + bad + "'");
    expect_error([&] { read_plan(yaml, {}); }, {"exp.yaml:", "runtime.memory_budget"});
  }
  const std::string ok = experiment(dir, {20}, "[{method: atman}]", ", memory_budget: 80%");
  std::string source;
  const Plan plan = read_plan(ok, {});
  EXPECT_GT(memory_budget_bytes(plan, at::kCPU, 1, &source), 0);
  EXPECT_NE(source.find("80% of "), std::string::npos) << source;
}

}  // namespace
}  // namespace xai
