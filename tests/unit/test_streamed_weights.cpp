// runtime.weights: streamed. AtMan runs layer-major on a model whose weights are pages of a mapped
// checkpoint and drops each layer's pages after the layer: the peak resident memory, weights
// included, stays far under the weights, with the scores of the resident run bit for bit; the
// planner picks it when the resident run would not fit, and `xai run` gives the same results.
#include <ATen/ATen.h>

#include <cmath>
#include <fstream>

#include "framework/config/config.h"
#include "framework/io/results_reader.h"
#include "framework/model/synthetic.h"
#include "framework/run/memory_meter.h"
#include "framework/run/memory_plan.h"
#include "methods/atman.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::TempDir;

// A GPT-2 shape whose 8 layers (6.3 MB each in bfloat16) are most of its weights.
ModelSpec layered_spec() {
  ModelShape s;
  s.family = "gpt2";
  s.layers = 8;
  s.hidden = 512;
  s.heads = 8;
  s.vocab = 512;
  s.max_positions = 256;
  return shape_spec(s, "test: ");
}

TEST(StreamedWeights, LayerMajorAtManHoldsOneLayerAtATimeAndGivesTheSameScores) {
  TempDir dir;
  const ModelSpec spec = layered_spec();
  write_synthetic_model(dir.path(), spec, 5, at::kBFloat16, 0);
  LoadOptions o;
  o.dtype = at::kBFloat16;
  o.prefault = false;
  auto model = load_model(dir.path(), o);
  const double layer_bytes = 12.0 * 512 * 512 * 2;  // the four matrices of one layer
  const double layers_bytes = 8 * layer_bytes;

  at::manual_seed(3);
  const at::Tensor ids = at::randint(1, 257, {64}, at::kLong);
  const Encoded sample = test::make_sample(ids.slice(0, 0, 63), 62, ids.slice(0, 62));
  AtManOptions opt;
  opt.kappa.reset();
  opt.batch_size = 8;
  MemoryMeter meter;
  auto run = [&](bool layer_major, int64_t* peak) {
    for (int l = 0; l < 8; ++l) model->release_layer(l);
    ExplainContext ctx;
    ctx.layer_major = layer_major;
    ctx.layer_major_bytes = 8 << 20;
    meter.start();
    at::Tensor scores = AtMan(opt).explain(*model, sample, ctx).per_target;
    *peak = meter.peak_total_extra_bytes();
    return scores;
  };
  int64_t resident = 0, streamed = 0;
  const at::Tensor a = run(false, &resident);
  const at::Tensor b = run(true, &streamed);
  EXPECT_TRUE(at::equal(a, b));
  std::printf("  peak resident memory, weights included: %.1f MB batch-major, %.1f MB "
              "layer-major with streamed weights (layers %.1f MB)\n",
              resident / 1e6, streamed / 1e6, layers_bytes / 1e6);
  EXPECT_GT(resident, 0.9 * layers_bytes);  // every layer's pages were read and kept
  EXPECT_LT(streamed, resident - 0.6 * layers_bytes);
  EXPECT_GT(model->release_layer(0), 0u);  // mapped pages were read again and can go again

  // Raw attention: one forward, each layer's weights dropped after it (release_layers).
  for (int l = 0; l < 8; ++l) model->release_layer(l);
  Config cfg = Config::parse("{}", "test");
  auto attention = make_explainer("attention", cfg.root());
  ExplainContext ctx;
  ctx.layer_major = true;
  meter.start();
  const at::Tensor streamed_attention = attention->explain(*model, sample, ctx).relevance;
  const int64_t attention_peak = meter.peak_total_extra_bytes();
  ctx.layer_major = false;
  EXPECT_TRUE(at::equal(streamed_attention, attention->explain(*model, sample, ctx).relevance));
  EXPECT_LT(attention_peak, 0.4 * layers_bytes) << attention_peak;
}

TEST(StreamedWeights, ThePlannerStreamsAtManWhenResidentWouldNotFitAndTheRunAgrees) {
  TempDir dir;
  write_synthetic_model(dir.file("m"), layered_spec(), 5, at::kBFloat16, 0);
  std::ofstream(dir.file("d.jsonl"))
      << "{\"id\": \"a\", \"prompt\": \"Mara lives in Oslo and Ben works in Lima.\", "
         "\"target\": \" Oslo\"}\n"
         "{\"id\": \"b\", \"prompt\": \"The cat sat on the mat.\", \"target\": \" mat\"}\n";
  auto yaml = [&](const std::string& name, const std::string& runtime) {
    const std::string path = dir.file(name + ".yaml");
    test::write_file(path, "name: " + name + "\noutput: " + dir.file(name) +
                               "\nmodels: [{name: m, path: " + dir.file("m") +
                               ", dtype: bfloat16}]\n"
                               "dataset: {type: jsonl, path: " + dir.file("d.jsonl") + "}\n" +
                               "explainers: [{method: atman, kappa: off}, {method: chefer}, "
                               "{method: attention}, {method: rollout}]\n" +
                               "runtime: {threads: 1, progress: off" + runtime + "}\n");
    return path;
  };
  // A budget under the weights: AtMan is streamed, Chefer (a backward) is refused.
  const Plan tight = read_plan(yaml("tight", ", memory_budget: 40MB"), {});
  const MemoryPlan mp = plan_memory(tight, at::kCPU, 1);
  ASSERT_EQ(mp.rows.size(), 4u);
  EXPECT_TRUE(mp.rows[2].streamed);  // attention and rollout: one forward, layer by layer
  EXPECT_TRUE(mp.rows[3].streamed);
  EXPECT_TRUE(mp.rows[0].streamed);
  EXPECT_LT(mp.rows[0].weights, 0.3 * mp.rows[1].weights);
  EXPECT_FALSE(mp.rows[1].streamed);
  EXPECT_FALSE(mp.rows[1].fits);
  EXPECT_NE(mp.rows[1].refusal.find("streamed weights (runtime.weights) serve the forward-only"),
            std::string::npos)
      << mp.rows[1].refusal;
  // runtime.weights: streamed end to end equals the resident run.
  const RunResult resident = test::run_at_root(yaml("resident", ", weights: resident"));
  const RunResult streamed = test::run_at_root(yaml("streamed", ", weights: streamed"));
  ASSERT_EQ(resident.failures, 0);
  ASSERT_EQ(streamed.failures, 0);
  ResultsReader ra(resident.results_h5), rb(streamed.results_h5);
  for (const char* x : {"atman", "chefer", "attention", "rollout"}) {
    const auto u = ra.explainer("m", x).relevance.values, v = rb.explainer("m", x).relevance.values;
    ASSERT_EQ(u.size(), v.size()) << x;
    for (size_t i = 0; i < u.size(); ++i) {
      EXPECT_TRUE(u[i] == v[i] || (std::isnan(u[i]) && std::isnan(v[i]))) << x << " " << i;
    }
  }
  // A synthetic model lives in memory: asked to stream, it says why it stays resident.
  const std::string synth = dir.file("synth.yaml");
  test::write_file(synth,
                   "name: s\nmodels: [{name: s, synthetic: {family: gpt2}}]\n"
                   "dataset: {type: jsonl, path: " + dir.file("d.jsonl") + "}\n" +
                   "explainers: [{method: atman}]\nruntime: {weights: streamed}\n");
  const MemoryPlan sp = plan_memory(read_plan(synth, {}), at::kCPU, 1);
  ASSERT_EQ(sp.notes.size(), 1u);
  EXPECT_NE(sp.notes[0].find("weights kept resident: a synthetic model lives in memory"),
            std::string::npos)
      << sp.notes[0];
}

}  // namespace
}  // namespace xai
