// The attention hooks explainers rely on: key suppression in both modes, kept and replaced
// probabilities, layer subsets, gradients through the kept probabilities.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

class ControlTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = load_model(fixture("models/" + GetParam()));
    ids_ = SafetensorsFile::open(fixture("models/" + GetParam() + "/reference.safetensors"))
               ->get("input_ids")
               .slice(1, 0, 12);
  }
  ForwardResult run(const AttentionControl& ctl, at::Tensor ids = {}) {
    ForwardRequest req;
    req.input_ids = ids.defined() ? ids : ids_;
    return model_->forward(req, ctl);
  }
  // Factors (B, T): 1 everywhere except `value` at key k.
  at::Tensor factors(int64_t k, float value, int64_t B = 1) {
    at::Tensor f = at::ones({B, ids_.size(1)});
    f.select(1, k).fill_(value);
    return f;
  }
  std::unique_ptr<Model> model_;
  at::Tensor ids_;  // (1, 12)
};

TEST_P(ControlTest, UnitFactorsChangeNothingInEitherMode) {
  at::NoGradGuard g;
  at::Tensor plain = run({}).logits;
  for (auto mode : {SuppressionMode::kShiftedScores, SuppressionMode::kLogAdditive}) {
    for (auto minimum : {ShiftMinimum::kAllKeys, ShiftMinimum::kValidKeys}) {
      AttentionControl ctl;
      ctl.key_factors = at::ones({1, ids_.size(1)});
      ctl.mode = mode;
      ctl.shift_minimum = minimum;
      EXPECT_LT(max_abs_diff(run(ctl).logits, plain), 1e-5);
    }
  }
}

TEST_P(ControlTest, SuppressingKeyKLeavesEarlierPositionsUntouched) {
  at::NoGradGuard g;
  at::Tensor plain = run({}).logits[0];
  const int64_t k = 5;
  AttentionControl ctl;
  ctl.key_factors = factors(k, 0.1f);
  at::Tensor got = run(ctl).logits[0];
  EXPECT_LT(max_abs_diff(got.slice(0, 0, k), plain.slice(0, 0, k)), 1e-5);
  for (int64_t t = k; t < got.size(0); ++t) {
    EXPECT_GT(max_abs_diff(got[t], plain[t]), 1e-4) << "position " << t;
  }
}

// Layer 0 sees the same scores with and without suppression, so its probabilities after
// suppression follow in closed form from the ones before.
TEST_P(ControlTest, LogAdditiveScalesTheKeysProbabilityAndRenormalises) {
  at::NoGradGuard g;
  AttentionControl keep;
  keep.keep_probs = true;
  at::Tensor before = run(keep).attn_probs[0][0];  // (H, T, T)
  const int64_t k = 3;
  const float f = 0.25f;
  AttentionControl ctl = keep;
  ctl.key_factors = factors(k, f);
  ctl.mode = SuppressionMode::kLogAdditive;
  at::Tensor after = run(ctl).attn_probs[0][0];
  at::Tensor want = before.clone();
  want.select(2, k).mul_(f);
  want = want / want.sum(-1, true);
  EXPECT_LT(max_abs_diff(after, want), 1e-6);
}

TEST_P(ControlTest, ShiftedScoresOverValidKeysFollowsThePaperFormula) {
  at::NoGradGuard g;
  AttentionControl keep;
  keep.keep_probs = true;
  at::Tensor before = run(keep).attn_probs[0][0];  // (H, T, T)
  const int64_t k = 2;
  const float f = 0.1f;
  AttentionControl ctl = keep;
  ctl.key_factors = factors(k, f);
  ctl.shift_minimum = ShiftMinimum::kValidKeys;
  at::Tensor after = run(ctl).attn_probs[0][0];
  // log P = s / sqrt(d) - c per row, so f_k * (s - min s) / sqrt(d) = f_k * (log P - min log P)
  // over the visible keys.
  const int64_t T = before.size(1);
  at::Tensor visible = at::ones({T, T}, at::kBool).tril();
  at::Tensor logp = before.clamp_min(1e-30).log();
  at::Tensor row_min = logp.masked_fill(visible.logical_not(), 1e30).amin(-1, true);
  at::Tensor col = at::ones({T});
  col[k] = f;
  at::Tensor logits = ((logp - row_min) * col).masked_fill(visible.logical_not(), -1e30);
  EXPECT_LT(max_abs_diff(after, at::softmax(logits, -1)), 1e-5);
  // The suppressed key's share never grows (it stays put where it is the row minimum).
  at::Tensor share_after = after.select(2, k).slice(1, k),
             share_before = before.select(2, k).slice(1, k);
  EXPECT_TRUE(share_after.le(share_before + 1e-7).all().item<bool>());
  EXPECT_LT(share_after.sum().item<double>(), 0.5 * share_before.sum().item<double>());
}

TEST_P(ControlTest, ZeroFactorStillLeavesTheKeyItsRowMinimumInShiftedMode) {
  // reference/atman.md 1.1: F = 0 moves the logit to the row minimum, it does not remove the key.
  at::NoGradGuard g;
  AttentionControl ctl;
  ctl.keep_probs = true;
  ctl.key_factors = factors(0, 0.0f);
  at::Tensor probs = run(ctl).attn_probs[0][0];  // (H, T, T)
  EXPECT_TRUE(probs.select(2, 0).gt(0).all().item<bool>());
  ctl.mode = SuppressionMode::kLogAdditive;  // here f = 0 means -1e4: effectively removed
  probs = run(ctl).attn_probs[0][0];
  EXPECT_LT(probs.select(2, 0).slice(1, 1).max().item<double>(), 1e-30);
}

TEST_P(ControlTest, LayerSubsetLimitsSuppressionAndKeptProbabilities) {
  at::NoGradGuard g;
  AttentionControl all;
  all.keep_probs = true;
  ForwardResult plain = run(all);
  AttentionControl ctl;
  ctl.keep_probs = true;
  ctl.layers = {1};
  ctl.key_factors = factors(4, 0.1f);
  ForwardResult got = run(ctl);
  ASSERT_EQ(got.attn_probs.size(), plain.attn_probs.size());
  EXPECT_FALSE(got.attn_probs[0].defined());  // layer 0 not controlled: not kept
  EXPECT_GT(max_abs_diff(got.attn_probs[1], plain.attn_probs[1]), 1e-4);
  // Layer 0 unsuppressed means layer 1's input is unchanged before position 4 as well.
  EXPECT_LT(max_abs_diff(got.logits[0].slice(0, 0, 4), plain.logits[0].slice(0, 0, 4)), 1e-5);
}

TEST_P(ControlTest, ReplaceProbsIsCalledPerControlledLayerAndUsed) {
  at::NoGradGuard g;
  at::Tensor plain = run({}).logits;
  std::vector<int> seen;
  AttentionControl same;
  same.replace_probs = [&](int layer, const at::Tensor& p) {
    seen.push_back(layer);
    return p;
  };
  EXPECT_LT(max_abs_diff(run(same).logits, plain), 1e-5);
  EXPECT_EQ(seen, (std::vector<int>{0, 1}));

  AttentionControl scaled;
  scaled.layers = {1};
  scaled.keep_probs = true;
  scaled.replace_probs = [](int, const at::Tensor& p) { return 0.5 * p; };
  ForwardResult r = run(scaled);
  EXPECT_GT(max_abs_diff(r.logits, plain), 1e-4);
  // What comes back is the tensor the layer used.
  EXPECT_NEAR(r.attn_probs[1].sum(-1).mean().item<double>(), 0.5, 1e-6);
}

TEST_P(ControlTest, KeptProbabilitiesCarryGradients) {
  at::Tensor emb = model_->embed(ids_).detach().requires_grad_(true);
  ForwardRequest req;
  req.inputs_embeds = emb;
  req.logit_positions = at::tensor(std::vector<int64_t>{11}, at::kLong);
  AttentionControl ctl;
  ctl.keep_probs = true;
  ForwardResult out = model_->forward(req, ctl);
  for (auto& p : out.attn_probs) p.retain_grad();
  out.logits[0][0][7].backward();
  for (size_t l = 0; l < out.attn_probs.size(); ++l) {
    ASSERT_TRUE(out.attn_probs[l].grad().defined()) << "layer " << l;
    EXPECT_GT(out.attn_probs[l].grad().abs().sum().item<double>(), 0) << "layer " << l;
  }
  ASSERT_TRUE(emb.grad().defined());
  EXPECT_GT(emb.grad().abs().sum().item<double>(), 0);
}

TEST_P(ControlTest, BatchedFactorsMatchOneRowAtATime) {
  at::NoGradGuard g;
  at::Tensor ids = ids_.repeat({3, 1});
  AttentionControl ctl;
  ctl.key_factors = at::cat({factors(1, 0.1f), factors(6, 0.1f), factors(9, 0.5f)}, 0);
  at::Tensor batched = run(ctl, ids).logits;
  for (int64_t b = 0; b < 3; ++b) {
    AttentionControl one;
    one.key_factors = ctl.key_factors.slice(0, b, b + 1);
    EXPECT_LT(max_abs_diff(batched[b], run(one).logits[0]), 1e-5) << "row " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ControlTest, ::testing::Values("gpt2", "qwen2", "gpt_neox"));

}  // namespace
}  // namespace xai

namespace xai {
namespace {

// Relevance rules change the backward only: the same logits, other (finite) gradients.
class RulesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RulesTest, ForwardValuesAreTheSameUnderEveryRule) {
  auto model = load_model(test::fixture("models/" + GetParam()));
  at::Tensor ids = at::arange(3, 15, at::kLong).view({1, 12});
  at::Tensor e0 = model->embed(ids).detach();
  at::Tensor plain_logits, plain_grad;
  for (auto rules : {GradientRules::kStandard, GradientRules::kAttnLrp, GradientRules::kCpLrp,
                     GradientRules::kLrpAlphaBeta}) {
    at::Tensor e = e0.clone().requires_grad_(true);
    ForwardRequest req;
    req.inputs_embeds = e;
    req.logit_positions = at::tensor(std::vector<int64_t>{11}, at::kLong);
    req.rules = rules;
    AttentionControl keep;
    keep.keep_probs = true;
    ForwardResult out = model->forward(req, keep);
    out.logits[0][0][5].backward();
    ASSERT_TRUE(e.grad().defined());
    EXPECT_TRUE(at::isfinite(e.grad()).all().item<bool>());
    if (rules == GradientRules::kStandard) {
      plain_logits = out.logits.detach();
      plain_grad = e.grad().clone();
      continue;
    }
    EXPECT_LT((out.logits.detach() - plain_logits).abs().max().item<double>(), 1e-5);
    EXPECT_GT((e.grad() - plain_grad).abs().max().item<double>(), 1e-6);
  }
}

TEST_P(RulesTest, CpLrpTreatsTheAttentionProbabilitiesAsConstants) {
  // q and k detached: no gradient can flow through the scores, only through the values.
  auto model = load_model(test::fixture("models/" + GetParam()));
  at::Tensor e =
      model->embed(at::arange(3, 9, at::kLong).view({1, 6})).detach().requires_grad_(true);
  for (auto rules : {GradientRules::kStandard, GradientRules::kCpLrp}) {
    ForwardRequest req;
    req.inputs_embeds = e;
    req.rules = rules;
    AttentionControl keep;
    keep.keep_probs = true;
    ForwardResult out = model->forward(req, keep);
    for (const auto& p : out.attn_probs) {
      EXPECT_EQ(p.requires_grad(), rules == GradientRules::kStandard);
    }
    EXPECT_TRUE(out.logits.requires_grad());  // the value path still carries gradients
  }
}

TEST_P(RulesTest, OneSwitchedGraphGivesThePlainGradientAndTheRulesGradient) {
  // A GradientSwitch lets one forward under kLrpAlphaBeta serve both backward passes (Chefer
  // 2021a). Off, the backward must equal a plain forward's; on, a rules-only forward's; the
  // switch may flip between backward calls on the same graph, in either order.
  auto model = load_model(test::fixture("models/" + GetParam()));
  at::Tensor e0 = model->embed(at::arange(3, 14, at::kLong).view({1, 11})).detach();
  auto run = [&](GradientRules rules, const GradientSwitch* sw) {
    ForwardRequest req;
    req.inputs_embeds = e0.clone().requires_grad_(true);
    req.logit_positions = at::tensor(std::vector<int64_t>{8, 10}, at::kLong);
    req.rules = rules;
    req.rule_switch = sw;
    AttentionControl keep;
    keep.keep_probs = true;
    ForwardResult out = model->forward(req, keep);
    out.attn_probs.push_back(req.inputs_embeds);  // gradients for every map and the input
    return out;
  };
  auto grads = [](const ForwardResult& out, bool retain) {
    return torch::autograd::grad({out.logits[0][1][4]}, out.attn_probs, {}, retain);
  };
  const auto plain = grads(run(GradientRules::kStandard, nullptr), false);
  const auto rules = grads(run(GradientRules::kLrpAlphaBeta, nullptr), false);
  GradientSwitch sw;
  ForwardResult both = run(GradientRules::kLrpAlphaBeta, &sw);
  ForwardResult reference = run(GradientRules::kStandard, nullptr);
  EXPECT_TRUE(at::equal(both.logits, reference.logits));  // rules never change a forward value
  for (bool relevance : {true, false, true}) {
    sw.set_relevance(relevance);
    EXPECT_EQ(sw.relevance(), relevance);
    const auto got = grads(both, /*retain=*/true);
    const auto& want = relevance ? rules : plain;
    const auto& other = relevance ? plain : rules;
    ASSERT_EQ(got.size(), want.size());
    double apart = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_LT(test::relative_error(got[i], want[i]), 1e-5)
          << "tensor " << i << " relevance " << relevance;
      apart = std::max(apart, test::relative_error(got[i], other[i]));
    }
    EXPECT_GT(apart, 1e-3);  // the two backward passes really differ
  }
  ForwardRequest wrong;
  wrong.inputs_embeds = e0;
  wrong.rules = GradientRules::kAttnLrp;
  wrong.rule_switch = &sw;
  test::expect_error([&] { model->forward(wrong); }, {"GradientSwitch", "kLrpAlphaBeta"});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RulesTest,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "gpt_neox"));

}  // namespace
}  // namespace xai
