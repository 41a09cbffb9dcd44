// The memory planner: estimates for every (model, explainer) on the longest sample, without loading
// weights; a default batch lowered to fit, a user's batch kept and refused; a run that cannot fit
// refused before any work with one line naming the model, the method, the need and the budget.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/config/config.h"
#include "framework/run/experiment.h"
#include "framework/run/memory_meter.h"
#include "framework/run/memory_plan.h"
#include "framework/run/plan.h"
#include "framework/text/encoded.h"
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
                             "dataset: {type: jsonl, path: " +
                             dir.file("data.jsonl") + "}\n" + "explainers: " + explainers + "\n" +
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
  // dataset.target: generate: each sample as long as its prompt and the most tokens generated.
  const MemoryPlan gen = plan_memory(
      read_plan(yaml, {"dataset.target=generate", "dataset.max_new_tokens=40"}), at::kCPU, 1);
  EXPECT_EQ(gen.rows[0].tokens, 301 + 40 - 1);  // BOS + 300 bytes, then 40 targets but the last
  // The weights of a gpt2 shape: tokens + positions + 2 layers + final norm, in float32.
  const double params =
      512 * 64 + 1024 * 64 +
      2 * (4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64) + 2 * 64;
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
  const Plan longer =
      read_plan(experiment(dir2, {900},
                           "[{method: atman}, {method: chefer}, {method: integrated_gradients},"
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
        "the longest, sample 's0', has 502 tokens", "runtime.host_memory: compact"}) {
    EXPECT_NE(refused->refusal.find(says), std::string::npos) << says << ": " << refused->refusal;
  }
  EXPECT_EQ(refused->refusal.find('\n'), std::string::npos);
  // Applied, the lowered batch is the explainer's own.
  apply_memory_plan(plan, tight);
  EXPECT_NE(plan.explainers[0].impl->params_json().find("\"batch_size\":" +
                                                        std::to_string(row(tight, "a").units)),
            std::string::npos)
      << plan.explainers[0].impl->params_json();
}

TEST(MemoryPlan, ARunThatCannotFitIsRefusedBeforeAnyWork) {
  TempDir dir;
  const std::string yaml = experiment(dir, {200}, "[{method: chefer}]", ", memory_budget: 1MB");
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

// parallel.tensor: each rank plans for its part of the weights (the split tensors' parts, the
// norms whole), and a refusal names the smallest k under which the weights would fit.
TEST(MemoryPlan, TensorParallelRanksPlanForTheirPartOfTheWeights) {
  TempDir dir;
  const std::string yaml = experiment(dir, {50}, "[{method: attention}]");
  const double whole = row(plan_memory(read_plan(yaml, {}), at::kCPU, 1), "attention").weights;
  const double half =
      row(plan_memory(read_plan(yaml, {"parallel.tensor=2"}), at::kCPU, 1), "attention").weights;
  const double quarter =
      row(plan_memory(read_plan(yaml, {"parallel.tensor=4"}), at::kCPU, 1), "attention").weights;
  // gpt2 64 x 2 layers, vocabulary 512, 1024 learned positions (replicated, 256 KB) and norms.
  const double positions = 1024.0 * 64 * 4;
  EXPECT_NEAR(half - positions, (whole - positions) / 2, (whole - positions) * 0.01);
  EXPECT_NEAR(quarter - positions, (whole - positions) / 4, (whole - positions) * 0.01);
  // A budget between the quarter and the half (attention has no batch to lower): refused, with
  // parallel.tensor: 4 as a way out.
  const double budget = (half + quarter) / 2 +
                        row(plan_memory(read_plan(yaml, {}), at::kCPU, 1), "attention").explanation;
  const Plan tight = read_plan(
      yaml, {"parallel.tensor=2", "runtime.memory_budget=" + std::to_string(int64_t(budget))});
  const MemoryPlanRow& r = row(plan_memory(tight, at::kCPU, 1), "attention");
  EXPECT_FALSE(r.fits);
  EXPECT_NE(r.refusal.find("parallel.tensor: 4 (4 ranks hold the model together"),
            std::string::npos)
      << r.refusal;
  // A gradient method's activations: the MLP columns, heads and vocabulary rows split, the
  // residual stream whole: less than one rank's, more than half of it.
  const std::string ixg = experiment(dir, {300}, "[{method: input_x_gradient}]");
  const double one =
      row(plan_memory(read_plan(ixg, {}), at::kCPU, 1), "input_x_gradient").explanation;
  const double two =
      row(plan_memory(read_plan(ixg, {"parallel.tensor=2"}), at::kCPU, 1), "input_x_gradient")
          .explanation;
  EXPECT_LT(two, one);
  EXPECT_GT(two, 0.5 * one);
  // A k the model cannot be split by is a one-line error naming the key, before any work.
  expect_error([&] { read_plan(yaml, {"parallel.tensor=3"}); },
               {"parallel.tensor = 3 does not divide the model's 4 attention heads", "model m"});
}

TEST(MemoryPlan, BadBudgetsAreNamedWithTheirLine) {
  TempDir dir;
  for (const char* bad : {"lots", "150%", "0%", "0GB", "-3GB"}) {
    const std::string yaml =
        experiment(dir, {20}, "[{method: atman}]", std::string(", memory_budget: '") + bad + "'");
    expect_error([&] { read_plan(yaml, {}); }, {"exp.yaml:", "runtime.memory_budget"});
  }
  const std::string ok = experiment(dir, {20}, "[{method: atman}]", ", memory_budget: 80%");
  std::string source;
  const Plan plan = read_plan(ok, {});
  EXPECT_GT(memory_budget_bytes(plan, at::kCPU, 1, &source), 0);
  EXPECT_NE(source.find("80% of "), std::string::npos) << source;
}

// `xai plan --json`: the same rows in exact bytes, each with its units, measurements attached by
// row; the units reproduce the estimate of a method that states its need in them (chefer: every
// layer's graph, one layer's scores, (T, T) matrices and a constant).
TEST(MemoryPlan, TheJsonHoldsEveryRowInBytesWithItsUnits) {
  TempDir dir;
  const std::string yaml =
      experiment(dir, {100, 250}, "[{method: atman}, {method: chefer}]", ", memory_budget: 1GB");
  const MemoryPlan mp = plan_memory(read_plan(yaml, {}), at::kCPU, 1);
  const auto j =
      nlohmann::json::parse(memory_plan_json(mp, {"{\"resident\": 123, \"tensors\": 45}", ""}));
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_DOUBLE_EQ(j["budget"].get<double>(), 1e9);
  ASSERT_EQ(j["rows"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& r = j["rows"][i];
    EXPECT_EQ(r["explainer"], mp.rows[i].explainer);
    EXPECT_EQ(r["tokens"], 252);
    EXPECT_DOUBLE_EQ(r["explanation"].get<double>(), mp.rows[i].explanation);
    EXPECT_DOUBLE_EQ(r["total"].get<double>(), mp.rows[i].total());
    EXPECT_EQ(r["fits"], true);
    EXPECT_EQ(r["basis"]["tokens"], 252);
    EXPECT_EQ(r["basis"]["layers"], 2);
    EXPECT_DOUBLE_EQ(r["basis"]["hidden"].get<double>(), 252.0 * 64 * 4);
    EXPECT_DOUBLE_EQ(r["basis"]["scores"].get<double>(), 4.0 * 252 * 252 * 4);
  }
  EXPECT_EQ(j["rows"][0]["knob"], "batch_size");
  EXPECT_EQ(j["rows"][0]["units"], 8);
  EXPECT_EQ(j["rows"][0]["measured"]["resident"], 123);
  EXPECT_FALSE(j["rows"][1].contains("measured"));
  // Chefer's need from its units and its coefficients (methods/chefer.cpp): every tensor of this
  // small model is under the heap threshold, so all of it counts times the heap factor.
  const auto& b = j["rows"][1]["basis"];
  EXPECT_GT(b["heap_threshold"].get<double>(), 4.0 * 252 * 252 * 4);
  const auto u = [&](const char* unit) { return b[unit].get<double>(); };
  const double chefer =
      1.9 *
      (2 * (1.09 * u("hidden") + 0.498 * u("mlp") + 0.616 * u("graph") + 0.0307 * u("scores")) +
       0.0275 * u("scores") + 4.05 * u("square") + 0.95e6);
  EXPECT_NEAR(j["rows"][1]["explanation"].get<double>(), chefer, chefer * 1e-9);
  // With runtime.host_memory: compact resident memory follows the live tensors: each counts once.
  const MemoryPlan compact =
      plan_memory(read_plan(yaml, {"runtime.host_memory=compact"}), at::kCPU, 1);
  EXPECT_LT(compact.rows[1].explanation, mp.rows[1].explanation / 1.5);
  const auto jc = nlohmann::json::parse(memory_plan_json(compact, {}));
  EXPECT_EQ(jc["rows"][1]["basis"]["heap_threshold"].get<double>(), 0.0);
  EXPECT_NEAR(compact.rows[1].explanation * 1.9, mp.rows[1].explanation,
              mp.rows[1].explanation * 1e-9);
}

// The estimates against the exact peak of live tensor bytes (MemoryMeter's counting allocator, the
// same in every process) for every method on two fitted shapes at T = 128 (AttAttr at 10 steps
// and IG at 8, as fitted): within 15%, as docs/performance.md reports for the full grid. A method
// whose memory changes without a refit (scripts/fit_memory_plan.py) fails here.
TEST(MemoryPlan, EveryEstimateIsWithinFifteenPercentOfTheTensorPeak) {
  MemoryMeter::count_tensor_allocations();
  ASSERT_TRUE(MemoryMeter::counting_tensors());
  for (const char* shape :
       {"{family: gpt2, layers: 4, hidden: 256, heads: 4, max_positions: 1024}",
        "{family: llama, layers: 3, hidden: 384, heads: 6, kv_heads: 2, vocab: 32000, "
        "max_positions: 1024}"}) {
    TempDir dir;
    std::ofstream(dir.file("data.jsonl"))
        << "{\"id\": \"t\", \"prompt\": \"" << std::string(126, 'k')
        << "\", \"target\": \" q\", \"explain\": [[0, 12]]}\n";
    test::write_file(
        dir.file("exp.yaml"),
        "name: acc\noutput: " + dir.path() + "/out\nmodels:\n  - name: m\n    synthetic: " + shape +
            "\ndataset: {type: jsonl, path: " + dir.file("data.jsonl") +
            "}\nexplainers: [{name: atman_single, method: atman, kappa: off}, {method: atman},"
            " {method: chefer}, {method: chefer_lrp}, {method: attattr, steps: 10},"
            " {method: integrated_gradients, steps: 8}, {method: input_x_gradient},"
            " {method: saliency}, {method: attention}, {method: rollout}, {method: attnlrp}]\n"
            "runtime: {threads: 1, progress: off, host_memory: compact}\n");
    Plan plan = read_plan(dir.file("exp.yaml"), {});
    const MemoryPlan mp = plan_memory(plan, at::kCPU, 1);
    std::unique_ptr<Model> model = load_entry_model(plan.models[0], at::kCPU, "models[0]");
    const Encoded enc =
        entry_encoder(plan.models[0])
            .encode(plan.models[0].dataset->get(0), model->spec().max_positions, {});
    ASSERT_EQ(enc.size(), 128);
    MemoryMeter meter;
    {  // one-time tables (the attention kernel choice) before anything is measured
      ExplainContext ctx;
      plan.explainers[0].impl->explain(*model, enc, ctx);
    }
    for (size_t i = 0; i < plan.explainers.size(); ++i) {
      ExplainContext ctx;
      meter.start();
      plan.explainers[i].impl->explain(*model, enc, ctx);
      const double peak = static_cast<double>(meter.peak_tensor_extra_bytes());
      EXPECT_NEAR(mp.rows[i].explanation, peak, 0.15 * peak)
          << shape << ": " << plan.explainers[i].name;
    }
  }
}

}  // namespace
}  // namespace xai
