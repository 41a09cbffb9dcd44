// The gradient baselines (saliency, input x gradient, integrated gradients) against captum
// (tests/reference/baselines_gradient.py), their axioms (IG completeness and batch-size
// invariance, causality of the gradients, one backward shared by saliency and IxG), the random
// floor's reproducibility, and their YAML parameters.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/input_x_gradient.h"
#include "methods/integrated_gradients.h"
#include "methods/random.h"
#include "methods/saliency.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;
using test::relative_error;
using Options = IntegratedGradientsOptions;

// An Encoded from ids; position 0 is a BOS (no bytes) when `bos`, every other token one byte.
Encoded make_sample(const at::Tensor& ids, int64_t prompt_len, const at::Tensor& targets,
                    bool bos) {
  Encoded e = test::make_sample(ids, prompt_len, targets);
  for (size_t k = 0; k < e.offsets.size(); ++k) {
    e.offsets[k] = ByteSpan{static_cast<int64_t>(k), static_cast<int64_t>(k) + 1};
  }
  if (bos) e.offsets[0] = ByteSpan{0, 0};
  return e;
}

// A random sample of prompt_len + n_targets - 1 tokens.
Encoded random_sample(const Model& model, int64_t prompt_len, int64_t n_targets, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor ids = at::randint(3, model.spec().vocab_size, {prompt_len + n_targets}, at::kLong);
  return make_sample(ids.slice(0, 0, prompt_len + n_targets - 1), prompt_len,
                     ids.slice(0, prompt_len), false);
}

// The explainer a YAML mapping (given as JSON text, which is YAML) builds.
using test::build;

Explanation run(Explainer& e, Model& m, const Encoded& s) {
  ExplainContext ctx;
  return e.explain(m, s, ctx);
}

IntegratedGradients make_ig(Options::Quadrature q, int64_t steps, Options::Baseline b,
                            int64_t batch_size = 16, int64_t token = 0) {
  Options o;
  o.quadrature = q;
  o.steps = steps;
  o.baseline = b;
  if (b != Options::Baseline::kZero) o.baseline_token_id = token;
  o.batch_size = batch_size;
  return IntegratedGradients(o);
}

// ---- against captum --------------------------------------------------------------------------

class GradientReference : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientReference, PerTargetAndDeltaMatchCaptum) {
  auto model = load_model(fixture("models/" + GetParam()));
  auto ref = SafetensorsFile::open(fixture("baselines/gradient_" + GetParam() + ".safetensors"));
  const auto configs =
      nlohmann::json::parse(test::read_file(fixture("baselines/gradient_configs.json")));
  int checked = 0;
  std::map<std::string, double> worst;  // largest relative error per method, printed
  for (int p = 0; p < 2; ++p) {
    const std::string k = "p" + std::to_string(p) + ".";
    Encoded s = make_sample(ref->get(k + "ids"), ref->get(k + "prompt_len").item<int64_t>(),
                            ref->get(k + "targets"), ref->get(k + "bos").item<int64_t>() != 0);
    ASSERT_GE(s.num_targets(), 2);
    for (auto it = configs.begin(); it != configs.end(); ++it) {
      nlohmann::json params = it.value();
      const std::string method = params["method"].get<std::string>();
      params.erase("method");
      if (method == "integrated_gradients") {
        params["batch_size"] = 7;  // uneven chunks
        // Without a preset or a baseline the reference ran captum's default, the zero baseline.
        if (!params.contains("preset") && !params.contains("baseline")) params["baseline"] = "zero";
      }
      auto explainer = build(method, params.dump());
      Explanation e = run(*explainer, *model, s);
      const at::Tensor want = ref->get(k + it.key() + ".per_target");
      ASSERT_EQ(e.per_target.sizes(), want.sizes()) << it.key();
      // A signed sum of the gradient over d vanishes on GPT-2 (every read of the residual stream
      // is a LayerNorm, blind to adding c * 1): compare it on the gradient norm's scale instead.
      double scale = want.abs().max().item<double>();
      if (scale < 1e-9)
        scale = ref->get(k + "saliency_default.per_target").abs().max().item<double>();
      const double err = (e.per_target.to(at::kDouble) - want).abs().max().item<double>() / scale;
      EXPECT_LT(err, 1e-4) << it.key() << " prompt " << p;
      worst[method] = std::max(worst[method], err);
      EXPECT_TRUE(at::allclose(e.relevance, e.per_target.abs().sum(0))) << it.key();
      if (method == "integrated_gradients") {
        const at::Tensor delta = ref->get(k + it.key() + ".delta");
        const at::Tensor fdiff = ref->get(k + it.key() + ".fdiff");
        const at::Tensor got = e.extras.at("convergence_delta").to(at::kDouble);
        // The delta is a difference of two sums of size ~ |fdiff| + |delta|: compare on that
        // scale (float32 sums over T * D terms that partly cancel: at most 8.4e-5 seen, on qwen2).
        const at::Tensor dscale = fdiff.abs() + delta.abs() + 1e-6;
        const double derr = ((got - delta).abs() / dscale).max().item<double>();
        EXPECT_LT(derr, 1e-4) << it.key() << " prompt " << p << ": " << got << " vs " << delta;
        worst["convergence_delta"] = std::max(worst["convergence_delta"], derr);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(configs.size()));
  for (const auto& [m, e] : worst) std::printf("  %s: max relative error %.2e\n", m.c_str(), e);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GradientReference,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"));

// ---- axioms ------------------------------------------------------------------------------------

class GradientAxioms : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = load_model(fixture("models/" + GetParam()));
    sample_ = random_sample(*model_, 12, 3, 5);
  }
  std::unique_ptr<Model> model_;
  Encoded sample_;
};

TEST_P(GradientAxioms, IntegratedGradientsCompletenessImprovesWithSteps) {
  // A token baseline keeps the path away from the norms' singular point at E = 0.
  for (int64_t token : {0, 7}) {
    auto coarse =
        make_ig(Options::Quadrature::kRiemannTrapezoid, 8, Options::Baseline::kToken, 16, token);
    auto fine =
        make_ig(Options::Quadrature::kRiemannTrapezoid, 64, Options::Baseline::kToken, 16, token);
    at::Tensor d8 = run(coarse, *model_, sample_).extras.at("convergence_delta").abs();
    at::Tensor d64 = run(fine, *model_, sample_).extras.at("convergence_delta").abs();
    EXPECT_LT(d64.sum().item<double>(), d8.sum().item<double>()) << d8 << d64;
    // Gauss-Legendre with 50 points: completeness holds to a small fraction of f(E) - f(E0).
    auto gl =
        make_ig(Options::Quadrature::kGaussLegendre, 50, Options::Baseline::kToken, 16, token);
    Explanation e = run(gl, *model_, sample_);
    const at::Tensor delta = e.extras.at("convergence_delta").to(at::kDouble);
    const at::Tensor gap = e.per_target.to(at::kDouble).sum(1) - delta;  // f(E) - f(E0)
    EXPECT_TRUE((delta.abs() < 1e-2 * gap.abs() + 1e-5).all().item<bool>())
        << token << ": delta " << delta << " gap " << gap;
  }
}

TEST_P(GradientAxioms, IntegratedGradientsDeltaIsSumOfAttributionsMinusTheGap) {
  // With signed sums and no normalisation, per_target's row sums minus the stored delta must be
  // f(E) - f(E0), for every quadrature: checked against two plain forwards, the sample's ids and
  // the baseline's (token 3 at every position, the sample having no BOS).
  const int64_t P = sample_.prompt_len, n = sample_.num_targets();
  const at::Tensor ids = at::tensor(sample_.ids, at::kLong).view({1, -1});
  auto logits_of = [&](const at::Tensor& x) {
    at::NoGradGuard no_grad;
    ForwardRequest r;
    r.input_ids = x;
    return model_->forward(r).logits[0].to(at::kDouble);  // (T, V)
  };
  const at::Tensor full = logits_of(ids), base = logits_of(at::full_like(ids, 3));
  at::Tensor want = at::empty({n}, at::kDouble);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = P - 1 + t, y = sample_.target_ids[static_cast<size_t>(t)];
    want[t] = full[p][y] - base[p][y];
  }
  ASSERT_GT(want.abs().min().item<double>(), 1e-6);
  for (auto q : {Options::Quadrature::kGaussLegendre, Options::Quadrature::kRiemannMiddle}) {
    auto ig = make_ig(q, 20, Options::Baseline::kToken, 16, 3);
    Explanation e = run(ig, *model_, sample_);
    at::Tensor gap = e.per_target.to(at::kDouble).sum(1) - e.extras.at("convergence_delta");
    EXPECT_LT((gap - want).abs().max().item<double>(), 1e-4 * want.abs().max().item<double>())
        << gap << want;
  }
}

TEST_P(GradientAxioms, IntegratedGradientsAutoBaselineIsZeroWithLayerNormAndATokenWithRMSNorm) {
  const bool layer_norm = model_->spec().norm_bias;
  EXPECT_EQ(layer_norm, GetParam() != "llama_gqa");  // GPT-2 and GPT-NeoX: LayerNorm with bias
  auto automatic = make_ig(Options::Quadrature::kGaussLegendre, 12, Options::Baseline::kAuto);
  auto zero = make_ig(Options::Quadrature::kGaussLegendre, 12, Options::Baseline::kZero);
  auto token = make_ig(Options::Quadrature::kGaussLegendre, 12, Options::Baseline::kToken, 16, 0);
  const Explanation a = run(automatic, *model_, sample_);
  const Explanation want = run(layer_norm ? zero : token, *model_, sample_);
  EXPECT_TRUE(at::equal(a.per_target, want.per_target));
  EXPECT_TRUE(at::equal(a.extras.at("convergence_delta"), want.extras.at("convergence_delta")));
  // What was used is stored with the sample: -1 for the zero baseline, else the token id.
  EXPECT_EQ(a.extras.at("baseline_token").item<float>(), layer_norm ? -1.0f : 0.0f);
}

TEST_P(GradientAxioms, IntegratedGradientsFlagsASampleWhoseDeltaIsALargeShareOfTheChange) {
  // 2 Riemann steps leave a delta that is a visible share of f(E) - f(E0); the flag follows
  // delta_tolerance against the stored relative delta |delta| / |f(E) - f(E0)|.
  Options o;
  o.quadrature = Options::Quadrature::kRiemannTrapezoid;
  o.steps = 2;
  o.baseline = Options::Baseline::kToken;
  o.baseline_token_id = 3;
  IntegratedGradients coarse(o);
  Explanation e = run(coarse, *model_, sample_);
  const at::Tensor delta = e.extras.at("convergence_delta").to(at::kDouble);
  const at::Tensor change = e.per_target.to(at::kDouble).sum(1) - delta;  // f(E) - f(E0)
  const at::Tensor relative = e.extras.at("convergence_relative").to(at::kDouble);
  EXPECT_TRUE(at::allclose(relative, delta.abs() / change.abs(), 1e-3, 1e-6)) << relative;
  const double worst = relative.max().item<double>();
  ASSERT_GT(worst, 1e-3);
  for (double tolerance : {worst / 2, worst * 2}) {
    o.delta_tolerance = tolerance;
    IntegratedGradients flagged(o);
    Explanation f = run(flagged, *model_, sample_);
    EXPECT_EQ(f.extras.at("convergence_flag").item<float>(), tolerance < worst ? 1.0f : 0.0f)
        << tolerance << " against " << worst;
  }
}

TEST_P(GradientAxioms, IntegratedGradientsBatchSizeDoesNotChangeTheResult) {
  for (auto q : {Options::Quadrature::kGaussLegendre, Options::Quadrature::kRiemannTrapezoid}) {
    auto one = make_ig(q, 20, Options::Baseline::kZero, 1);
    auto many = make_ig(q, 20, Options::Baseline::kZero, 16);
    Explanation a = run(one, *model_, sample_), b = run(many, *model_, sample_);
    EXPECT_LT(relative_error(b.per_target, a.per_target), 1e-5);
    // The delta is a small difference of sums of size ~ sum_j |A_j|: compare on that scale.
    const double scale = a.per_target.abs().sum(1).max().item<double>();
    EXPECT_LT((b.extras.at("convergence_delta") - a.extras.at("convergence_delta"))
                      .abs()
                      .max()
                      .item<double>() /
                  scale,
              1e-5);
    EXPECT_EQ(a.cost.forward_passes, 20 + 1);
    EXPECT_EQ(b.cost.forward_passes, 2 + 1);
    EXPECT_EQ(b.cost.sequences, 20 + 2);
    EXPECT_EQ(b.cost.backward_passes, 2 * sample_.num_targets());
  }
}

TEST_P(GradientAxioms, GradientsAfterThePredictingPositionAreZero) {
  const int64_t P = sample_.prompt_len;
  Cost cost;
  ExplainContext ctx;
  int visited = 0;
  embedding_gradients(
      *model_, sample_, TargetFunction::kLogProb,
      [&](int64_t t, const at::Tensor&, const at::Tensor& g) {
        if (P + t < g.size(0)) {
          EXPECT_EQ(g.slice(0, P + t).abs().max().item<double>(), 0.0) << "target " << t;
        }
        EXPECT_GT(g.slice(0, 0, P + t).abs().max().item<double>(), 0.0) << "target " << t;
        ++visited;
      },
      cost, ctx);
  EXPECT_EQ(visited, sample_.num_targets());
  EXPECT_EQ(cost.backward_passes, sample_.num_targets());
  EXPECT_EQ(cost.forward_passes, 1);
}

TEST_P(GradientAxioms, SaliencyAndInputXGradientShareOneGradient) {
  at::Tensor grads, embeds;  // (n, T, D), (T, D)
  Cost cost;
  ExplainContext ctx;
  std::vector<at::Tensor> gs;
  embedding_gradients(
      *model_, sample_, TargetFunction::kLogit,
      [&](int64_t, const at::Tensor& e, const at::Tensor& g) {
        embeds = e.to(at::kCPU);
        gs.push_back(g.to(at::kCPU));
      },
      cost, ctx);
  grads = at::stack(gs);
  const int64_t P = sample_.prompt_len, n = sample_.num_targets(), T = sample_.size();
  at::Tensor causal = at::ones({n, T});
  for (int64_t t = 0; t < n; ++t) causal[t].slice(0, P + t).zero_();

  SaliencyOptions so;  // l2
  Saliency saliency(so);
  EXPECT_LT(relative_error(run(saliency, *model_, sample_).per_target, grads.norm(2, -1) * causal),
            1e-6);
  so.common.embedding = EmbeddingAggregation::kSum;
  Saliency signed_saliency(so);
  EXPECT_LT(
      relative_error(run(signed_saliency, *model_, sample_).per_target, grads.sum(-1) * causal),
      1e-6);
  InputXGradientOptions io;  // sum
  InputXGradient ixg(io);
  Explanation e = run(ixg, *model_, sample_);
  EXPECT_LT(relative_error(e.per_target, (embeds.unsqueeze(0) * grads).sum(-1) * causal), 1e-6);
  EXPECT_EQ(e.cost.forward_passes, 1);
  EXPECT_EQ(e.cost.backward_passes, n);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GradientAxioms,
                         ::testing::Values("gpt2", "llama_gqa", "gpt_neox", "gptj"));

TEST(IntegratedGradients, TokenBaselineKeepsALeadingBos) {
  auto model = load_model(fixture("models/llama_gqa"));
  Encoded s = random_sample(*model, 8, 2, 3);
  s.ids[0] = 1;
  s.offsets[0] = ByteSpan{0, 0};  // a BOS
  auto keep = make_ig(Options::Quadrature::kGaussLegendre, 6, Options::Baseline::kToken, 16, 4);
  at::Tensor kept = run(keep, *model, s).per_target;
  EXPECT_EQ(kept.select(1, 0).abs().max().item<double>(), 0.0);  // E - E0 = 0 there
  Options o = keep.options();
  o.baseline_keep_bos = false;
  IntegratedGradients replace(o);
  EXPECT_GT(run(replace, *model, s).per_target.select(1, 0).abs().max().item<double>(), 0.0);
}

TEST(IntegratedGradients, UnkBaselineTakesTheTokenizersIdFromTheSample) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded s = random_sample(*model, 6, 2, 5);
  Options o;
  o.steps = 6;
  o.batch_size = 16;                     // as make_ig: the same chunks, so the same bits
  o.baseline = Options::Baseline::kUnk;  // inseq: no id given
  IntegratedGradients unk(o);
  test::expect_error([&] { run(unk, *model, s); }, {"integrated_gradients", "neither an UNK"});
  s.unk_id = 7;  // as encode_sample sets it from the tokenizer
  at::Tensor got = run(unk, *model, s).per_target;
  auto token7 = make_ig(Options::Quadrature::kGaussLegendre, 6, Options::Baseline::kToken, 16, 7);
  EXPECT_TRUE(at::equal(got, run(token7, *model, s).per_target));
  auto token3 = make_ig(Options::Quadrature::kGaussLegendre, 6, Options::Baseline::kToken, 16, 3);
  EXPECT_FALSE(at::allclose(got, run(token3, *model, s).per_target));
  o.baseline_token_id = 3;  // an explicit id wins over the tokenizer's
  IntegratedGradients explicit_id(o);
  EXPECT_TRUE(at::equal(run(explicit_id, *model, s).per_target, run(token3, *model, s).per_target));
}

TEST(IntegratedGradients, QuadratureFollowsCaptum) {
  auto [a, w] = ig_quadrature(Options::Quadrature::kGaussLegendre, 3);
  const double r = std::sqrt(0.6);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_NEAR(a[0], 0.5 * (1 - r), 1e-15);
  EXPECT_NEAR(a[1], 0.5, 1e-15);
  EXPECT_NEAR(a[2], 0.5 * (1 + r), 1e-15);
  EXPECT_NEAR(w[0], 5.0 / 18, 1e-15);
  EXPECT_NEAR(w[1], 8.0 / 18, 1e-15);
  EXPECT_NEAR(w[2], 5.0 / 18, 1e-15);
  for (int64_t n : {1, 2, 10, 50, 128}) {
    auto [x, v] = ig_quadrature(Options::Quadrature::kGaussLegendre, n);
    double sum = 0, moment = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum += v[i];
      moment += v[i] * std::pow(x[i], 2 * n - 1);  // exact for degree <= 2n - 1
      if (i > 0) {
        EXPECT_LT(x[i - 1], x[i]);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-13) << n;
    EXPECT_NEAR(moment, 1.0 / (2 * n), 1e-12) << n;
  }
  auto [l, lw] = ig_quadrature(Options::Quadrature::kRiemannLeft, 4);
  EXPECT_EQ(l, (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(lw, (std::vector<double>(4, 0.25)));
  auto [rr, rw] = ig_quadrature(Options::Quadrature::kRiemannRight, 4);
  EXPECT_EQ(rr, (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  auto [m, mw] = ig_quadrature(Options::Quadrature::kRiemannMiddle, 4);
  EXPECT_EQ(m, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  auto [t, tw] = ig_quadrature(Options::Quadrature::kRiemannTrapezoid, 5);
  EXPECT_EQ(t, (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(tw, (std::vector<double>{0.1, 0.2, 0.2, 0.2, 0.1}));  // captum's: sum (n-1)/n
  test::expect_error([] { ig_quadrature(Options::Quadrature::kRiemannLeft, 1); },
                     {"integrated_gradients", "riemann_left", "steps >= 2"});
}

TEST(IntegratedGradients, CannotRunErrorsNameTheMethod) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded s = random_sample(*model, 6, 2, 1);
  auto ig = make_ig(Options::Quadrature::kGaussLegendre, 4, Options::Baseline::kToken, 16,
                    model->spec().vocab_size);
  test::expect_error([&] { run(ig, *model, s); },
                     {"integrated_gradients", "baseline_token_id", "vocabulary"});
  Encoded bad = s;
  bad.prompt_len = 2;
  test::expect_error([&] { run(ig, *model, bad); }, {"integrated_gradients", "malformed"});
}

// ---- random ------------------------------------------------------------------------------------

TEST(RandomBaseline, ReproducibleSeedAndSampleDependentUniform) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded a = random_sample(*model, 10, 3, 1), b = random_sample(*model, 10, 3, 2);
  auto r0 = build("random", "{}");
  auto r1 = build("random", "{seed: 1}");
  Explanation x = run(*r0, *model, a);
  EXPECT_TRUE(at::equal(x.per_target, run(*r0, *model, a).per_target));
  EXPECT_TRUE(at::equal(x.per_target, run(*build("random", "{seed: 0}"), *model, a).per_target));
  EXPECT_FALSE(at::equal(x.per_target, run(*r1, *model, a).per_target));
  EXPECT_FALSE(at::equal(x.per_target, run(*r0, *model, b).per_target));
  const int64_t P = a.prompt_len;
  for (int64_t t = 0; t < a.num_targets(); ++t) {
    at::Tensor live = x.per_target[t].slice(0, 0, P + t);
    EXPECT_GE(live.min().item<double>(), 0.0);
    EXPECT_LT(live.max().item<double>(), 1.0);
    EXPECT_GT(live.std().item<double>(), 0.05);
    if (P + t < a.size()) {
      EXPECT_EQ(x.per_target[t].slice(0, P + t).abs().max().item<double>(), 0.0);
    }
  }
  EXPECT_EQ(x.cost.forward_passes, 0);
  // Many draws: mean near 1/2.
  Encoded big = random_sample(*model, 400, 1, 4);
  EXPECT_NEAR(run(*r0, *model, big).per_target.mean().item<double>(), 0.5, 0.05);
}

// ---- configuration -----------------------------------------------------------------------------

TEST(GradientConfig, PresetsSetTheirValuesAndKeysOverrideThem) {
  auto params = [](const std::string& method, const std::string& yaml) {
    return nlohmann::json::parse(build(method, yaml)->params_json());
  };
  auto ig = params("integrated_gradients", "{preset: atman_paper}");
  EXPECT_EQ(ig["steps"], 10);
  EXPECT_EQ(ig["baseline"], "zero");
  EXPECT_EQ(ig["target"], "logit");
  EXPECT_EQ(ig["preset"], "atman_paper");
  ig = params("integrated_gradients", "{preset: captum_llm}");
  EXPECT_EQ(ig["baseline"], "token");
  EXPECT_EQ(ig["baseline_token_id"], 0);
  EXPECT_EQ(ig["target"], "logprob");
  EXPECT_EQ(ig["embedding_aggregation"], "sum");
  EXPECT_EQ(ig["steps"], 50);
  ig = params("integrated_gradients", "{preset: inseq, baseline_token_id: 3, steps: 8}");
  EXPECT_EQ(ig["baseline"], "unk");
  EXPECT_EQ(ig["baseline_token_id"], 3);
  EXPECT_EQ(ig["steps"], 8);
  EXPECT_EQ(ig["quadrature"], "gausslegendre");
  EXPECT_EQ(ig["target"], "prob");
  EXPECT_EQ(ig["embedding_aggregation"], "l2");
  EXPECT_EQ(ig["normalize"], "l1");
  ig = params("integrated_gradients", "{preset: inseq}");  // the id: the tokenizer's, per sample
  EXPECT_EQ(ig["baseline"], "unk");
  EXPECT_TRUE(ig["baseline_token_id"].is_null());
  ig = params("integrated_gradients", "{}");
  EXPECT_EQ(ig["steps"], 50);
  EXPECT_EQ(ig["baseline"], "auto");  // zero with LayerNorm, token 0 with RMSNorm
  EXPECT_EQ(ig["baseline_token_id"], 0);
  EXPECT_EQ(ig["delta_tolerance"], 0.1);
  EXPECT_EQ(ig["batch_size"], 4);
  EXPECT_TRUE(ig["preset"].is_null());
  EXPECT_EQ(params("input_x_gradient", "{preset: atman_paper}")["embedding_aggregation"],
            "abs_sum");
  EXPECT_EQ(params("input_x_gradient", "{}")["embedding_aggregation"], "sum");
  EXPECT_EQ(params("saliency", "{}")["embedding_aggregation"], "l2");
  EXPECT_EQ(params("saliency", "{preset: captum_llm}")["embedding_aggregation"], "sum");
  auto r = params("random", "{seed: 9, preset: inseq}");
  EXPECT_EQ(r["seed"], 9);
  EXPECT_EQ(r["normalize"], "l1");
  EXPECT_EQ(r["method"], "random");
}

TEST(GradientConfig, InvalidParametersAreErrorsNamingTheKey) {
  test::expect_error([] { build("integrated_gradients", "{stpes: 3}"); }, {"stpes", "steps"});
  test::expect_error(
      [] { build("integrated_gradients", "{baseline: zero, baseline_token_id: 3}"); },
      {"baseline_token_id", "zero"});
  test::expect_error([] { build("integrated_gradients", "{delta_tolerance: 0}"); },
                     {"delta_tolerance", "positive"});
  test::expect_error([] { build("integrated_gradients", "{quadrature: simpson}"); },
                     {"quadrature", "gausslegendre"});
  test::expect_error([] { build("integrated_gradients", "{steps: 0}"); },
                     {"integrated_gradients", "steps"});
  test::expect_error([] { build("integrated_gradients", "{batch_size: 0}"); },
                     {"integrated_gradients", "batch_size"});
  test::expect_error([] { build("saliency", "{preset: attattr}"); }, {"preset", "inseq"});
  test::expect_error([] { build("input_x_gradient", "{embedding_aggregation: max}"); },
                     {"embedding_aggregation", "abs_sum"});
  test::expect_error([] { build("random", "{seed: -1}"); }, {"seed", ">= 0"});
  for (const char* m : {"saliency", "input_x_gradient", "integrated_gradients", "random"}) {
    const auto names = explainer_methods();
    EXPECT_NE(std::find(names.begin(), names.end(), m), names.end()) << m;
  }
}

}  // namespace
}  // namespace xai
