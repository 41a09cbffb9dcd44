// AttnLRP and Chefer 2021a (adapted) against the independent reference
// (tests/reference/baselines_lrp.py), plus what the rules promise: conservation where it is exact,
// the accounting where it is not, and the methods' contracts (signs, causality, cost, config).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <iostream>

#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/model/model_spec.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/attnlrp.h"
#include "methods/chefer_lrp.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;
using test::fixture_sample;
using test::make_sample;
using test::relative_error;

// Options from one entry of lrp_configs.json, read through the YAML path (JSON is YAML).
template <typename Options>
Options options_from(const nlohmann::json& entry) {
  Config c = Config::parse(entry.dump(), "lrp_configs.json");
  return Options::from_config(c.root());
}

nlohmann::json lrp_configs() {
  return nlohmann::json::parse(test::read_file(fixture("baselines/lrp_configs.json")));
}

// ---- agreement with the reference ---------------------------------------------------------------

class LrpReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = load_model(fixture("models/" + GetParam()));
    ref_ = SafetensorsFile::open(fixture("baselines/lrp_" + GetParam() + ".safetensors"));
  }
  std::unique_ptr<Model> model_;
  std::shared_ptr<const SafetensorsFile> ref_;
};

TEST_P(LrpReference, AttnLrpMatchesTheReferenceImplementation) {
  const auto configs = lrp_configs().at("attnlrp");
  ExplainContext ctx;
  int checked = 0;
  for (int p = 0; p < 2; ++p) {
    Encoded s = fixture_sample(*ref_, p);
    for (auto it = configs.begin(); it != configs.end(); ++it) {
      AttnLrp method(options_from<AttnLrpOptions>(it.value()));
      Explanation e = method.explain(*model_, s, ctx);
      at::Tensor want = ref_->get("p" + std::to_string(p) + ".attnlrp." + it.key());
      ASSERT_EQ(e.per_target.sizes(), want.sizes());
      const double err = relative_error(e.per_target, want);
      EXPECT_LT(err, 1e-4) << it.key() << " prompt " << p;
      RecordProperty("attnlrp." + it.key() + ".p" + std::to_string(p), std::to_string(err));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(configs.size()));
}

TEST_P(LrpReference, CheferLrpMatchesTheReferenceImplementation) {
  const auto configs = lrp_configs().at("chefer_lrp");
  ExplainContext ctx;
  int checked = 0;
  for (int p = 0; p < 2; ++p) {
    Encoded s = fixture_sample(*ref_, p);
    for (auto it = configs.begin(); it != configs.end(); ++it) {
      CheferLrp method(options_from<CheferLrpOptions>(it.value()));
      Explanation e = method.explain(*model_, s, ctx);
      at::Tensor want = ref_->get("p" + std::to_string(p) + ".chefer_lrp." + it.key());
      ASSERT_EQ(e.per_target.sizes(), want.sizes());
      const double err = relative_error(e.per_target, want);
      EXPECT_LT(err, 1e-4) << it.key() << " prompt " << p;
      RecordProperty("chefer_lrp." + it.key() + ".p" + std::to_string(p), std::to_string(err));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(configs.size()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LrpReference,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"));

// ---- AttnLRP: conservation ----------------------------------------------------------------------

// Per-target sums over positions of an explainer's scores, and the target logits.
struct Sums {
  at::Tensor relevance;  // (n) sum_j R[t, j]
  at::Tensor logits;     // (n) f_t
};

Sums attnlrp_sums(Model& model, const Encoded& s, AttnLrpOptions::Variant variant) {
  AttnLrpOptions o;
  o.variant = variant;
  ExplainContext ctx;
  Explanation e = AttnLrp(o).explain(model, s, ctx);
  at::NoGradGuard g;
  ForwardRequest req;
  req.input_ids = at::tensor(s.ids, at::kLong).view({1, -1});
  at::Tensor logits = model.forward(req).logits[0];  // (T, V)
  at::Tensor f = logits.slice(0, s.prompt_len - 1)
                     .gather(1, at::tensor(s.target_ids, at::kLong).view({-1, 1}))
                     .view({-1});
  return {e.per_target.sum(1).to(at::kDouble), f.to(at::kDouble)};
}

TEST(AttnLrp, CpLrpConservesTheLogitOnAModelWithoutBiases) {
  // llama_gqa: RMSNorm (identity), no biases, and CP-LRP sends no relevance into the softmax or
  // the gate, so every rule is conservative: sum_j R_j = f exactly, up to float32 rounding.
  auto model = load_model(fixture("models/llama_gqa"));
  auto ref = SafetensorsFile::open(fixture("baselines/lrp_llama_gqa.safetensors"));
  for (int p = 0; p < 2; ++p) {
    Sums s = attnlrp_sums(*model, fixture_sample(*ref, p), AttnLrpOptions::Variant::kCpLrp);
    EXPECT_LT(relative_error(s.relevance, s.logits), 1e-4) << "prompt " << p;
  }
}

TEST(AttnLrp, ConservesTheLogitUpToWhatTheSoftmaxAbsorbs) {
  // AttnLRP's softmax rule (deep Taylor with bias, Prop. 3.1) is not conservative: per query row
  // it passes sum_i x_i (R_i - A_i sum_k R_k) = sum_i log(A_i) (R_i - A_i sum_k R_k) (the row's
  // log-sum-exp cancels) of the relevance R = A * dA at the probabilities, and q and k take half
  // of it (two 1/4 gradients), v the other half of A * V's. So on llama_gqa (no biases):
  //   sum_j R_j + sum_l 1/2 (sum R(A_l) - sum R(x_l)) = f
  // exactly; this checks that accounting term by term with the attention maps kept.
  auto model = load_model(fixture("models/llama_gqa"));
  auto ref = SafetensorsFile::open(fixture("baselines/lrp_llama_gqa.safetensors"));
  const int64_t L = model->spec().num_layers;
  for (int p = 0; p < 2; ++p) {
    Encoded s = fixture_sample(*ref, p);
    const int64_t T = s.size(), P = s.prompt_len, n = s.num_targets();
    at::Tensor e =
        model->embed(at::tensor(s.ids, at::kLong).view({1, T})).detach().requires_grad_(true);
    ForwardRequest req;
    req.inputs_embeds = e;
    req.logit_positions = at::arange(P - 1, P - 1 + n, at::kLong);
    req.rules = GradientRules::kAttnLrp;
    AttentionControl keep;
    keep.keep_probs = true;
    ForwardResult out = model->forward(req, keep);
    at::Tensor f = out.logits[0].gather(1, at::tensor(s.target_ids, at::kLong).view({-1, 1}));
    std::vector<at::Tensor> inputs = {e};
    for (const auto& a : out.attn_probs) inputs.push_back(a);
    for (int64_t t = 0; t < n; ++t) {
      auto g = torch::autograd::grad({f[t][0]}, inputs, {}, /*retain_graph=*/true);
      const double input_sum = (e * g[0]).sum().item<double>();
      double absorbed = 0;
      for (int64_t l = 0; l < L; ++l) {
        at::Tensor a = out.attn_probs[l].detach().to(at::kDouble);  // (1, H, T, T)
        at::Tensor r = a * g[1 + l].to(at::kDouble);                // R(A_l)
        at::Tensor row = r.sum(-1, true);
        at::Tensor log_a = at::where(a.gt(0), a.log(), at::zeros_like(a));
        const double passed = (log_a * (r - a * row)).sum().item<double>();
        absorbed += 0.5 * (r.sum().item<double>() - passed);
      }
      const double fv = f[t][0].item<double>();
      EXPECT_NEAR(input_sum + absorbed, fv, 1e-4 * std::max(1.0, std::abs(fv)))
          << "prompt " << p << " target " << t;
      std::cout << "[ attnlrp llama_gqa p" << p << " t" << t << " ] f = " << fv
                << ", sum R = " << input_sum << ", softmax absorbs " << absorbed << "\n";
    }
  }
}

TEST(AttnLrp, CpLrpConservesOnGpt2OnceBiasesAndPositionsAreZeroed) {
  // GPT-2's biases (and its position embeddings, which are not among the scored inputs) absorb
  // relevance; with them zeroed the same weights conserve exactly under CP-LRP (LayerNorm's
  // centring is a linear map, its detached scale the identity rule). Prints how much the real
  // biases and positions absorb on the fixture prompts.
  const std::string dir = fixture("models/gpt2");
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  ModelSpec spec = read_model_config(dir + "/config.json");
  TensorMap weights;
  for (const auto& info : file->tensors()) {
    at::Tensor w = file->get(info.name).to(at::kFloat).clone();
    const bool bias = info.name.size() > 5 && info.name.substr(info.name.size() - 5) == ".bias";
    if (bias || info.name == "transformer.wpe.weight") w.zero_();
    weights[info.name] = w;
  }
  auto zeroed = build_model(spec, weights);
  auto real = load_model(dir);
  auto ref = SafetensorsFile::open(fixture("baselines/lrp_gpt2.safetensors"));
  for (int p = 0; p < 2; ++p) {
    Encoded s = fixture_sample(*ref, p);
    Sums z = attnlrp_sums(*zeroed, s, AttnLrpOptions::Variant::kCpLrp);
    EXPECT_LT(relative_error(z.relevance, z.logits), 1e-4) << "prompt " << p;
    Sums r = attnlrp_sums(*real, s, AttnLrpOptions::Variant::kCpLrp);
    for (int64_t t = 0; t < s.num_targets(); ++t) {
      std::cout << "[ cp_lrp gpt2 p" << p << " t" << t << " ] f = " << r.logits[t].item<double>()
                << ", sum R = " << r.relevance[t].item<double>() << ", biases and positions absorb "
                << (r.logits[t] - r.relevance[t]).item<double>() << "\n";
    }
  }
}

// ---- contracts ----------------------------------------------------------------------------------

TEST(AttnLrp, AutoVariantIsCpLrpForGpt2AndAttnLrpElsewhere) {
  ModelSpec gpt2 = read_model_config(fixture("models/gpt2/config.json"));
  ModelSpec llama = read_model_config(fixture("models/llama_gqa/config.json"));
  EXPECT_EQ(attnlrp_rules(AttnLrpOptions::Variant::kAuto, gpt2), GradientRules::kCpLrp);
  EXPECT_EQ(attnlrp_rules(AttnLrpOptions::Variant::kAuto, llama), GradientRules::kAttnLrp);
  EXPECT_EQ(attnlrp_rules(AttnLrpOptions::Variant::kAttnLrp, gpt2), GradientRules::kAttnLrp);
  EXPECT_EQ(attnlrp_rules(AttnLrpOptions::Variant::kCpLrp, llama), GradientRules::kCpLrp);
}

// Every registered method, on both families: weights that require grad (a model built on a
// training loop's parameters) get no gradient, and the caller's grad mode changes no score (the
// runner may call under NoGradGuard).
TEST(AllMethods, WeightsGetNoGradientAndTheCallersGradModeChangesNothing) {
  for (const std::string family : {"gpt2", "llama_gqa"}) {
    ModelSpec spec = read_model_config(fixture("models/" + family + "/config.json"));
    TensorMap weights = init_weights(spec, 0.2, 3);
    for (auto& [name, w] : weights) w.requires_grad_(true);
    auto model = build_model(spec, weights);
    Encoded s =
        make_sample(at::arange(3, 12, at::kLong), 7, at::tensor(std::vector<int64_t>{12, 13, 14}));
    ExplainContext ctx;
    for (const std::string& m : explainer_methods()) {
      const bool integral = m == "integrated_gradients" || m == "attattr";
      Config params = Config::parse(integral ? "{steps: 3}" : "{}", "test");
      std::unique_ptr<Explainer> e = make_explainer(m, params.root());
      const at::Tensor with_grad = e->explain(*model, s, ctx).per_target;
      at::Tensor without;
      {
        at::NoGradGuard g;
        without = e->explain(*model, s, ctx).per_target;
      }
      EXPECT_TRUE(at::equal(with_grad, without)) << family << " " << m;
      EXPECT_FALSE(with_grad.requires_grad()) << family << " " << m;
      for (const auto& [name, w] : weights) {
        EXPECT_FALSE(w.grad().defined()) << family << " " << m << ": " << name;
      }
    }
  }
}

TEST(AttnLrp, ScoresAreCausalAndCostIsOneForwardAndOneBackwardPerTarget) {
  auto model = load_model(fixture("models/qwen2"));
  Encoded s = make_sample(at::arange(5, 16, at::kLong), 8,
                          at::tensor(std::vector<int64_t>{16, 17, 18, 19}));
  int64_t last_progress = 0;
  ExplainContext ctx;
  ctx.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 4);
    last_progress = done;
  };
  Explanation e = AttnLrp(AttnLrpOptions{}).explain(*model, s, ctx);
  ASSERT_EQ(e.per_target.sizes(), (at::IntArrayRef{4, 11}));
  for (int64_t t = 0; t < 4; ++t) {
    const int64_t p = 7 + t;
    EXPECT_NE(e.per_target[t][p].item<float>(), 0.0f);
    if (p + 1 < 11) {
      EXPECT_EQ(e.per_target[t].slice(0, p + 1).abs().sum().item<float>(), 0.0f);
    }
  }
  EXPECT_TRUE(at::allclose(e.relevance, e.per_target.abs().sum(0)));
  EXPECT_EQ(e.cost.forward_passes, 1);
  EXPECT_EQ(e.cost.sequences, 1);
  EXPECT_EQ(e.cost.backward_passes, 4);
  EXPECT_GT(e.cost.seconds, 0.0);
  EXPECT_EQ(last_progress, 4);
}

TEST(CheferLrp, ScoresAreNonNegativeCausalAndTheDiagonalStartsAtOne) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded s = make_sample(at::arange(5, 16, at::kLong), 8,
                          at::tensor(std::vector<int64_t>{16, 17, 18, 19}));
  ExplainContext ctx;
  CheferLrpOptions o;
  Explanation keep = CheferLrp(o).explain(*model, s, ctx);
  o.diagonal = CheferLrpOptions::Diagonal::kZero;
  Explanation zero = CheferLrp(o).explain(*model, s, ctx);
  o.diagonal = CheferLrpOptions::Diagonal::kMin;
  Explanation min = CheferLrp(o).explain(*model, s, ctx);
  EXPECT_GE(keep.per_target.min().item<float>(), 0.0f);
  for (int64_t t = 0; t < 4; ++t) {
    const int64_t p = 7 + t;
    EXPECT_GE(keep.per_target[t][p].item<float>(), 1.0f);
    EXPECT_EQ(zero.per_target[t][p].item<float>(), 0.0f);
    EXPECT_FLOAT_EQ(
        min.per_target[t][p].item<float>(),
        keep.per_target[t].slice(0, 0, p).min().item<float>() < keep.per_target[t][p].item<float>()
            ? keep.per_target[t].slice(0, 0, p).min().item<float>()
            : keep.per_target[t][p].item<float>());
    if (p + 1 < 11) {
      EXPECT_EQ(keep.per_target[t].slice(0, p + 1).sum().item<float>(), 0.0f);
    }
    at::Tensor off = at::ones({11}, at::kBool);
    off[p] = false;
    EXPECT_TRUE(
        at::equal(keep.per_target[t].masked_select(off), zero.per_target[t].masked_select(off)));
  }
  EXPECT_EQ(keep.cost.forward_passes, 1);  // one graph serves both backward passes
  EXPECT_EQ(keep.cost.backward_passes, 8);
}

TEST(CheferLrp, LastLayerOnlyEqualsStartLayerMinusOne) {
  auto model = load_model(fixture("models/llama_gqa"));
  Encoded s =
      make_sample(at::arange(5, 14, at::kLong), 7, at::tensor(std::vector<int64_t>{14, 15, 16}));
  ExplainContext ctx;
  CheferLrpOptions a, b;
  a.start_layer = model->spec().num_layers - 1;
  b.start_layer = -1;
  EXPECT_TRUE(at::equal(CheferLrp(a).explain(*model, s, ctx).per_target,
                        CheferLrp(b).explain(*model, s, ctx).per_target));
  CheferLrpOptions bad;
  bad.start_layer = model->spec().num_layers;
  test::expect_error([&] { CheferLrp(bad).explain(*model, s, ctx); },
                     {"chefer_lrp", "start_layer", "is not a layer"});
}

TEST(LrpCost, BothMethodsReportPassesAndSecondsOnTheGpt2Fixture) {
  // The fixture's own 20-token input (17 prompt tokens, 3 targets); the second run's seconds are
  // printed (informational: warm caches, this machine's threads).
  auto model = load_model(fixture("models/gpt2"));
  auto ref = SafetensorsFile::open(fixture("models/gpt2/reference.safetensors"));
  at::Tensor ids = ref->get("input_ids")[0].to(at::kLong);  // (20)
  const int64_t T = ids.numel(), n = 3;
  Encoded s = make_sample(ids.slice(0, 0, T - 1), T - n, ids.slice(0, T - n));
  ExplainContext ctx;
  AttnLrp attnlrp{AttnLrpOptions{}};
  CheferLrp chefer{CheferLrpOptions{}};
  for (int run = 0; run < 2; ++run) {
    Cost a = attnlrp.explain(*model, s, ctx).cost;
    Cost c = chefer.explain(*model, s, ctx).cost;
    EXPECT_EQ(a.forward_passes, 1);
    EXPECT_EQ(a.backward_passes, n);
    EXPECT_EQ(c.forward_passes, 1);
    EXPECT_EQ(c.sequences, 1);
    EXPECT_EQ(c.backward_passes, 2 * n);
    EXPECT_GT(a.seconds, 0.0);
    EXPECT_GT(c.seconds, 0.0);
    if (run == 1) {
      std::cout << "[ gpt2 fixture, T = " << s.size() << ", " << n << " targets ] attnlrp "
                << a.seconds << " s, chefer_lrp " << c.seconds << " s\n";
    }
  }
}

// ---- configuration ------------------------------------------------------------------------------

TEST(LrpConfig, PresetsApplyFirstAndKeysOverrideThem) {
  Config c = Config::parse("preset: lxt\nnormalize: none\n", "exp.yaml");
  AttnLrpOptions a = AttnLrpOptions::from_config(c.root());
  EXPECT_EQ(a.common.preset, "lxt");
  EXPECT_EQ(a.common.normalize, Normalization::kNone);
  EXPECT_EQ(a.variant, AttnLrpOptions::Variant::kAuto);
  Config d = Config::parse("preset: lxt\n", "exp.yaml");
  EXPECT_EQ(AttnLrpOptions::from_config(d.root()).common.normalize, Normalization::kMaxAbs);

  Config b = Config::parse("preset: chefer_bert\nstart_layer: 0\n", "exp.yaml");
  CheferLrpOptions o = CheferLrpOptions::from_config(b.root());
  EXPECT_TRUE(o.row_normalize);
  EXPECT_EQ(o.start_layer, 0);
  EXPECT_EQ(o.diagonal, CheferLrpOptions::Diagonal::kMin);
  const auto j = nlohmann::json::parse(CheferLrp(o).params_json());
  EXPECT_EQ(j.at("preset"), "chefer_bert");
  EXPECT_EQ(j.at("row_normalize"), true);
  EXPECT_EQ(j.at("diagonal"), "min");
  const auto k = nlohmann::json::parse(AttnLrp(a).params_json());
  EXPECT_EQ(k.at("variant"), "auto");
  EXPECT_EQ(k.at("preset"), "lxt");
  EXPECT_EQ(k.at("target"), "logit");
}

TEST(LrpConfig, UnknownKeysPresetsAndInapplicableOptionsAreErrors) {
  test::expect_error(
      [] { AttnLrpOptions::from_config(Config::parse("varient: cp_lrp\n", "exp.yaml").root()); },
      {"varient", "variant"});
  test::expect_error(
      [] { AttnLrpOptions::from_config(Config::parse("preset: inseq\n", "exp.yaml").root()); },
      {"preset", "lxt"});
  test::expect_error(
      [] {
        CheferLrpOptions::from_config(
            Config::parse("embedding_aggregation: l2\n", "exp.yaml").root());
      },
      {"embedding_aggregation", "chefer_lrp"});
  test::expect_error(
      [] { CheferLrpOptions::from_config(Config::parse("diagonal: drop\n", "exp.yaml").root()); },
      {"diagonal", "keep"});
}

TEST(LrpConfig, RegistryBuildsBothMethodsByName) {
  Config c = Config::parse("variant: attn_lrp\n", "exp.yaml");
  auto a = make_explainer("attnlrp", c.root());
  EXPECT_EQ(nlohmann::json::parse(a->params_json()).at("variant"), "attn_lrp");
  Config d = Config::parse("row_normalize: true\n", "exp.yaml");
  auto b = make_explainer("chefer_lrp", d.root());
  EXPECT_EQ(nlohmann::json::parse(b->params_json()).at("row_normalize"), true);
}

}  // namespace
}  // namespace xai
