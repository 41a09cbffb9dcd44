// Raw attention, rollout, Chefer 2021b and AttAttr against the independent reference
// (tests/reference/baselines_attention.py), and what the methods promise: rollout rows sum to 1,
// row propagation equals the full matrix product, AttAttr does not depend on its batch size, no
// score after the predicting position, honest costs, strict configuration.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <nlohmann/json.hpp>

#include <cstdio>

#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/model/model_spec.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/atman.h"
#include "methods/attattr.h"
#include "methods/attention.h"
#include "methods/chefer.h"
#include "methods/rollout.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;
using test::fixture_sample;
using test::make_sample;
using test::relative_error;

// A sample of random ids: prompt of P tokens, n targets.
Encoded random_sample(const Model& model, int64_t P, int64_t n, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  at::Tensor ids = at::randint(3, model.spec().vocab_size, {P + n}, g, at::kLong);
  return make_sample(ids.slice(0, 0, P + n - 1), P, ids.slice(0, P));
}

// (n, T) scores with the predicting position's own entry (t, P - 1 + t) set to 0.
at::Tensor without_own_entry(const at::Tensor& scores, int64_t P) {
  at::Tensor s = scores.to(at::kDouble).clone();
  for (int64_t t = 0; t < s.size(0); ++t) s[t][P - 1 + t] = 0.0;
  return s;
}

// Options from one entry of attention_configs.json, read through the YAML path (JSON is YAML).
template <typename Options>
Options options_from(const nlohmann::json& entry) {
  Config c = Config::parse(entry.dump(), "attention_configs.json");
  return Options::from_config(c.root());
}

nlohmann::json configs_of(const std::string& method) {
  return nlohmann::json::parse(test::read_file(fixture("baselines/attention_configs.json")))
      .at(method);
}

// A deeper model than the 2-layer fixtures (so the order of the layers matters), with weights
// large enough that the attention is far from uniform.
std::unique_ptr<Model> deep_model(const std::string& fixture_name, int64_t layers) {
  ModelSpec spec = read_model_config(fixture("models/" + fixture_name + "/config.json"));
  spec.num_layers = layers;
  return build_model(spec, init_weights(spec, 0.15, 3));
}

// ---- agreement with the reference ---------------------------------------------------------------

class AttentionReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = load_model(fixture("models/" + GetParam()));
    ref_ = SafetensorsFile::open(fixture("baselines/attention_" + GetParam() + ".safetensors"));
  }
  // Runs every configuration of `method` on both prompts and compares per_target; `check` may
  // add comparisons. Returns the largest relative error.
  template <typename Method, typename Options, typename Check>
  double compare(const std::string& method, Check check) {
    const auto configs = configs_of(method);
    ExplainContext ctx;
    int checked = 0;
    double worst = 0;
    for (int p = 0; p < 2; ++p) {
      Encoded s = fixture_sample(*ref_, p);
      for (auto it = configs.begin(); it != configs.end(); ++it) {
        Method m(options_from<Options>(it.value()));
        Explanation e = m.explain(*model_, s, ctx);
        const std::string key = "p" + std::to_string(p) + "." + method + "." + it.key();
        at::Tensor want = ref_->get(key);
        EXPECT_EQ(e.per_target.sizes(), want.sizes()) << key;
        if (e.per_target.sizes() != want.sizes()) continue;
        const double err = relative_error(e.per_target, want);
        EXPECT_LT(err, 1e-4) << key;
        char text[32];
        std::snprintf(text, sizeof(text), "%.3g", err);
        RecordProperty(key, text);
        worst = std::max(worst, err);
        check(e, s, key);
        ++checked;
      }
    }
    EXPECT_EQ(checked, 2 * static_cast<int>(configs.size()));
    return worst;
  }
  std::unique_ptr<Model> model_;
  std::shared_ptr<const SafetensorsFile> ref_;
};

TEST_P(AttentionReference, RawAttentionMatchesTheReferenceImplementation) {
  compare<RawAttention, AttentionOptions>("attention", [](auto&&...) {});
}

TEST_P(AttentionReference, RolloutMatchesTheReferenceImplementation) {
  compare<Rollout, RolloutOptions>("rollout", [](auto&&...) {});
}

TEST_P(AttentionReference, CheferMatchesTheReferenceImplementation) {
  // The own entry (>= 1) dominates the row: compare the rest on its own scale too.
  compare<Chefer, CheferOptions>(
      "chefer", [this](const Explanation& e, const Encoded& s, const std::string& key) {
        at::Tensor want = without_own_entry(ref_->get(key), s.prompt_len);
        EXPECT_LT(relative_error(without_own_entry(e.per_target, s.prompt_len), want), 1e-4)
            << key << " without the own entry";
      });
}

TEST_P(AttentionReference, AttAttrMatchesTheReferenceImplementation) {
  compare<AttAttr, AttAttrOptions>(
      "attattr", [this](const Explanation& e, const Encoded&, const std::string& key) {
        // The reference keeps head importance per target; the explainer sums over targets.
        at::Tensor want = ref_->get(key + ".head_importance").sum(0);  // (L, H)
        ASSERT_EQ(e.extras.count("head_importance"), 1u);
        const at::Tensor& got = e.extras.at("head_importance");
        ASSERT_EQ(got.sizes(), want.sizes());
        EXPECT_LT(relative_error(got, want), 1e-4) << key << " head importance";
      });
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AttentionReference,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"));

// ---- rollout ------------------------------------------------------------------------------------

// Causal row-stochastic (T, T) matrices, one per layer.
std::vector<at::Tensor> random_head_means(int64_t L, int64_t T, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  std::vector<at::Tensor> out;
  at::Tensor causal = at::ones({T, T}, at::kBool).tril();
  for (int64_t l = 0; l < L; ++l) {
    at::Tensor logits = 3.0 * at::randn({T, T}, g, at::kDouble);
    out.push_back(at::softmax(logits.masked_fill(causal.logical_not(), -1e30), -1));
  }
  return out;
}

TEST(Rollout, RollOutMatrixRowsSumToOne) {
  for (int64_t start : {0, 2}) {
    at::Tensor J = rollout_matrix(random_head_means(6, 17, 1), start);
    EXPECT_LT((J.sum(-1) - 1.0).abs().max().item<double>(), 1e-12) << "start " << start;
    EXPECT_TRUE(J.ge(0).all().item<bool>());
    EXPECT_EQ(J.triu(1).abs().max().item<double>(), 0.0);  // still causal
  }
  // And on a model's own attention.
  auto model = load_model(fixture("models/llama_gqa"));
  Encoded s = random_sample(*model, 12, 3, 4);
  auto means = attention_detail::head_mean_probs(*model, sample_input(*model, s), false, {0, 1});
  EXPECT_LT((rollout_matrix(means, 0).sum(-1) - 1.0).abs().max().item<double>(), 1e-5);
}

TEST(Rollout, RowPropagationEqualsTheFullProduct) {
  const auto means = random_head_means(6, 17, 2);
  const at::Tensor positions = at::tensor(std::vector<int64_t>{16, 9, 0, 12});
  for (int64_t start : {0, 1, 5}) {
    at::Tensor full = rollout_matrix(means, start).index_select(0, positions);
    at::Tensor rows = rollout_rows(means, start, positions);
    EXPECT_LT((rows - full).abs().max().item<double>(), 1e-12) << "start " << start;
  }
}

TEST(Rollout, ExplainerReadsTheRowOfEachPredictingPosition) {
  auto model = deep_model("gpt2", 5);
  Encoded s = random_sample(*model, 10, 3, 5);
  auto means =
      attention_detail::head_mean_probs(*model, sample_input(*model, s), false, {0, 1, 2, 3, 4});
  for (int64_t start : {0, 2, -1}) {
    RolloutOptions o;
    o.start_layer = start;
    ExplainContext ctx;
    Explanation e = Rollout(o).explain(*model, s, ctx);
    at::Tensor J = rollout_matrix(means, start < 0 ? 5 + start : start);
    for (int64_t t = 0; t < 3; ++t) {
      EXPECT_LT((e.per_target[t] - J[9 + t]).abs().max().item<double>(), 1e-6)
          << "start " << start << " target " << t;
      EXPECT_NEAR(e.per_target[t].sum().item<double>(), 1.0, 1e-5);
    }
  }
}

// ---- chefer -------------------------------------------------------------------------------------

class CheferDeep : public ::testing::TestWithParam<std::string> {};

TEST_P(CheferDeep, RowPropagationEqualsTheFullProduct) {
  auto model = deep_model(GetParam(), 6);
  Encoded s = random_sample(*model, 11, 3, 6);
  for (int64_t start : {0, 3}) {
    CheferOptions o;
    o.start_layer = start;
    ExplainContext ctx;
    Explanation e = Chefer(o).explain(*model, s, ctx);
    for (int64_t t = 0; t < 3; ++t) {
      at::Tensor R = chefer_matrix(chefer_layer_maps(*model, s, t, TargetFunction::kLogit), start);
      at::Tensor want = R[10 + t];
      EXPECT_LT(relative_error(e.per_target[t], want), 1e-5) << "start " << start << " t " << t;
      EXPECT_GT(want.slice(0, 0, 10 + t).max().item<double>(), 1e-3);  // not a trivial row
      EXPECT_GE(want[10 + t].item<double>(), 1.0);                     // the own entry
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CheferDeep, ::testing::Values("gpt2", "llama_gqa"));

TEST(Chefer, SameScoresWithGradModeOffAndOneBackwardPerTarget) {
  auto model = load_model(fixture("models/qwen2"));
  Encoded s = random_sample(*model, 9, 4, 7);
  CheferOptions o;
  o.diagonal = "zero";
  ExplainContext ctx;
  Explanation on = Chefer(o).explain(*model, s, ctx);
  at::NoGradGuard no_grad;  // the runner's mode: the explainer turns gradients on itself
  Explanation off = Chefer(o).explain(*model, s, ctx);
  EXPECT_LT(relative_error(off.per_target, on.per_target), 1e-6);
  EXPECT_EQ(off.cost.forward_passes, 1);
  EXPECT_EQ(off.cost.sequences, 1);
  EXPECT_EQ(off.cost.backward_passes, 4);
  for (int64_t t = 0; t < 4; ++t) EXPECT_EQ(off.per_target[t][8 + t].item<double>(), 0.0);
  EXPECT_TRUE(off.per_target.ge(0).all().item<bool>());
}

// ---- attattr ------------------------------------------------------------------------------------

TEST(AttAttr, BatchSizeDoesNotChangeTheScores) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded s = random_sample(*model, 8, 3, 8);
  AttAttrOptions o;
  o.steps = 7;
  for (const char* score : {"row", "column_sum"}) {
    o.token_score = score;
    o.batch_size = 1;
    ExplainContext ctx;
    Explanation one = AttAttr(o).explain(*model, s, ctx);
    for (int64_t b : {3, 7, 32}) {
      o.batch_size = b;
      Explanation many = AttAttr(o).explain(*model, s, ctx);
      EXPECT_LT(relative_error(many.per_target, one.per_target), 1e-5) << score << " batch " << b;
      EXPECT_LT(relative_error(many.extras.at("head_importance"), one.extras.at("head_importance")),
                1e-5);
    }
  }
}

TEST(AttAttr, PredictedLabelExplainsTheModelsArgmax) {
  auto model = load_model(fixture("models/gpt2"));
  // One target, so the input is the prompt alone and only the class of F differs.
  Encoded s = random_sample(*model, 7, 1, 21);
  at::Tensor argmax;
  {
    at::NoGradGuard g;
    ForwardRequest req;
    req.input_ids = at::tensor(s.ids, at::kLong).view({1, -1});
    req.logit_positions = at::full({1}, s.prompt_len - 1, at::kLong);
    argmax = model->forward(req).logits[0][0].argmax();
  }
  ASSERT_NE(argmax.item<int64_t>(), s.target_ids[0])
      << "pick a seed whose target is not the argmax";
  Encoded as_target = s;
  as_target.target_ids[0] = argmax.item<int64_t>();
  AttAttrOptions o;
  o.steps = 4;
  ExplainContext ctx;
  const at::Tensor given = AttAttr(o).explain(*model, s, ctx).per_target;
  const at::Tensor relabelled = AttAttr(o).explain(*model, as_target, ctx).per_target;
  o.label = "predicted";
  const at::Tensor predicted = AttAttr(o).explain(*model, s, ctx).per_target;
  EXPECT_LT(relative_error(predicted, relabelled), 1e-6);
  EXPECT_GT(relative_error(predicted, given), 1e-3);
  AttAttrOptions preset =
      AttAttrOptions::from_config(Config::parse("preset: attattr\n", "exp.yaml").root());
  EXPECT_EQ(preset.label, "predicted");
  EXPECT_EQ(nlohmann::json::parse(AttAttr(preset).params_json()).at("label"), "predicted");
}

TEST(AttAttr, CostCountsEveryIntegrationPointAndTarget) {
  auto model = load_model(fixture("models/llama_gqa"));
  Encoded s = random_sample(*model, 6, 2, 9);
  AttAttrOptions o;
  o.steps = 5;
  o.batch_size = 2;
  o.layers = {1};
  std::vector<std::pair<int64_t, int64_t>> progress;
  ExplainContext ctx;
  ctx.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  Explanation e = AttAttr(o).explain(*model, s, ctx);
  EXPECT_EQ(e.cost.forward_passes, 4);   // the clean pass + ceil(5 / 2) for the one layer
  EXPECT_EQ(e.cost.sequences, 6);        // the clean pass + every alpha point
  EXPECT_EQ(e.cost.backward_passes, 6);  // one per target per forward
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{3}, int64_t{3}));
  const at::Tensor& hi = e.extras.at("head_importance");  // (L, H)
  EXPECT_EQ(hi.sizes(), (at::IntArrayRef{2, 4}));
  EXPECT_EQ(hi[0].abs().max().item<double>(), 0.0);  // layer 0 not attributed
  EXPECT_GT(hi[1].abs().max().item<double>(), 0.0);
}

// ---- shared contracts ---------------------------------------------------------------------------

std::vector<std::pair<std::string, std::unique_ptr<Explainer>>> all_methods() {
  std::vector<std::pair<std::string, std::unique_ptr<Explainer>>> out;
  AttentionOptions mean;
  mean.layers = "mean";
  out.emplace_back("attention", std::make_unique<RawAttention>(mean));
  out.emplace_back("rollout", std::make_unique<Rollout>(RolloutOptions{}));
  out.emplace_back("chefer", std::make_unique<Chefer>(CheferOptions{}));
  AttAttrOptions a;
  a.steps = 4;
  out.emplace_back("attattr", std::make_unique<AttAttr>(a));
  return out;
}

TEST(AttentionMethods, NoScoreAfterThePredictingPosition) {
  for (const char* name : {"gpt2", "llama_gqa"}) {
    auto model = load_model(fixture(std::string("models/") + name));
    Encoded s = random_sample(*model, 9, 4, 10);  // targets predicted at 8, 9, 10, 11
    for (auto& [method, explainer] : all_methods()) {
      ExplainContext ctx;
      Explanation e = explainer->explain(*model, s, ctx);
      ASSERT_EQ(e.per_target.sizes(), (at::IntArrayRef{4, 12})) << method;
      for (int64_t t = 0; t < 4; ++t) {
        const int64_t p = 8 + t;
        if (p + 1 < 12) {
          EXPECT_EQ(e.per_target[t].slice(0, p + 1).abs().max().item<double>(), 0.0)
              << method << " " << name << " target " << t;
        }
        EXPECT_GT(e.per_target[t].slice(0, 0, p + 1).abs().max().item<double>(), 0.0) << method;
      }
      EXPECT_EQ(e.relevance.sizes(), (at::IntArrayRef{12}));
      EXPECT_TRUE(e.relevance.ge(0).all().item<bool>()) << method;  // abs over targets
      EXPECT_GT(e.cost.seconds, 0.0);
    }
  }
}

TEST(AttentionMethods, RawAttentionRowsAreProbabilities) {
  auto model = load_model(fixture("models/qwen2"));
  Encoded s = random_sample(*model, 7, 3, 11);
  for (const char* layers : {"last", "mean"}) {
    AttentionOptions o;
    o.layers = layers;
    ExplainContext ctx;
    Explanation e = RawAttention(o).explain(*model, s, ctx);
    EXPECT_LT((e.per_target.sum(1) - 1.0).abs().max().item<double>(), 1e-5) << layers;
    EXPECT_TRUE(e.per_target.ge(0).all().item<bool>());
    EXPECT_EQ(e.cost.forward_passes, 1);
    EXPECT_EQ(e.cost.backward_passes, 0);
  }
}

TEST(AttentionMethods, PresetsAndKeysComeFromYaml) {
  auto parse = [](const std::string& yaml) { return Config::parse(yaml, "exp.yaml"); };
  {
    Config c = parse("preset: inseq\n");
    AttentionOptions o = AttentionOptions::from_config(c.root());
    EXPECT_EQ(o.layers, "mean");
    EXPECT_EQ(o.common.normalize, Normalization::kL1);
    const auto j = nlohmann::json::parse(RawAttention(o).params_json());
    EXPECT_EQ(j.at("method"), "attention");
    EXPECT_EQ(j.at("preset"), "inseq");
    EXPECT_EQ(j.at("normalize"), "l1");
  }
  {
    Config c = parse("preset: inseq\nlayers: last\n");  // keys apply on top of the preset
    EXPECT_EQ(AttentionOptions::from_config(c.root()).layers, "last");
  }
  {
    Config c = parse("preset: attattr\nbatch_size: 4\n");
    AttAttrOptions o = AttAttrOptions::from_config(c.root());
    EXPECT_EQ(o.steps, 20);
    EXPECT_EQ(o.batch_size, 4);
    EXPECT_EQ(o.common.target, TargetFunction::kProb);
    const auto j = nlohmann::json::parse(AttAttr(o).params_json());
    EXPECT_EQ(j.at("preset"), "attattr");
    EXPECT_EQ(j.at("target"), "prob");
    EXPECT_EQ(j.at("riemann"), "left");
  }
  {
    Config c = parse("preset: atman_paper\ndiagonal: zero\nexclude_bos: true\n");
    CheferOptions o = CheferOptions::from_config(c.root());
    EXPECT_EQ(o.common.target, TargetFunction::kLogit);
    EXPECT_EQ(o.diagonal, "zero");
    EXPECT_TRUE(o.common.exclude_bos);
    EXPECT_EQ(nlohmann::json::parse(Chefer(o).params_json()).at("preset"), "atman_paper");
  }
  {
    Config c = parse("start_layer: 1\n");
    EXPECT_EQ(RolloutOptions::from_config(c.root()).start_layer, 1);
    EXPECT_EQ(nlohmann::json::parse(Rollout(RolloutOptions{}).params_json()).at("preset"), nullptr);
  }
  test::expect_error([&] { CheferOptions::from_config(parse("diagonl: zero\n").root()); },
                     {"diagonl", "diagonal"});
  test::expect_error([&] { CheferOptions::from_config(parse("preset: inseq\n").root()); },
                     {"preset", "atman_paper"});
  test::expect_error([&] { RolloutOptions::from_config(parse("target: prob\n").root()); },
                     {"target", "does not apply to rollout"});
  test::expect_error([&] { AttentionOptions::from_config(parse("layers: first\n").root()); },
                     {"layers", "last", "mean"});
  test::expect_error(
      [&] { AttAttrOptions::from_config(parse("embedding_aggregation: l2\n").root()); },
      {"embedding_aggregation", "attattr"});
  AttAttrOptions no_steps;
  no_steps.steps = 0;
  test::expect_error([&] { AttAttr{no_steps}; }, {"attattr", "steps"});
}

TEST(AttentionMethods, RegisteredByName) {
  for (const std::string& m : explainer_methods()) {
    Config c = Config::parse("{}", "exp.yaml");
    std::unique_ptr<Explainer> e = make_explainer(m, c.root());
    ASSERT_NE(e, nullptr) << m;
    EXPECT_EQ(nlohmann::json::parse(e->params_json()).at("method"), m);
  }
}

TEST(AttentionMethods, ErrorsNameTheMethodAndTheReason) {
  auto model = load_model(fixture("models/gpt2"));
  Encoded s = random_sample(*model, 6, 2, 12);
  ExplainContext ctx;
  CheferOptions c;
  c.start_layer = 2;  // the fixture has 2 layers
  test::expect_error([&] { Chefer(c).explain(*model, s, ctx); }, {"chefer", "start_layer 2"});
  RolloutOptions r;
  r.start_layer = -3;
  test::expect_error([&] { Rollout(r).explain(*model, s, ctx); }, {"rollout", "start_layer -3"});
  AttAttrOptions a;
  a.layers = {5};
  test::expect_error([&] { AttAttr(a).explain(*model, s, ctx); },
                     {"attattr", "layers entry 5", "0..1"});
  // check_model says the same before any work, for the runner (which asks once per model).
  test::expect_error([&] { AttAttr(a).check_model(*model); }, {"attattr", "layers entry 5"});
  test::expect_error([&] { Chefer(c).check_model(*model); }, {"chefer", "start_layer 2"});
  AtManOptions at;
  at.layers = {1, 2};  // 2 is past the last layer: it used to match no layer and explain nothing
  test::expect_error([&] { AtMan(at).check_model(*model); }, {"atman", "layers entry 2"});
  test::expect_error([&] { AtMan(at).explain(*model, s, ctx); }, {"atman", "layers entry 2"});
  at.layers = {1};
  EXPECT_NO_THROW(AtMan(at).check_model(*model));
  Encoded bad = s;
  bad.prompt_len = 0;
  test::expect_error([&] { RawAttention(AttentionOptions{}).explain(*model, bad, ctx); },
                     {"attention", "malformed sample"});
}

}  // namespace
}  // namespace xai
