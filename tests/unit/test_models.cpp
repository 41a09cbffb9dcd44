// Every family against the Hugging Face reference (tests/reference/make_fixtures.py): logits,
// attention probabilities, padded batches, plus the Model interface's own contracts.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <filesystem>

#include "framework/model/model.h"
#include "framework/model/rope.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/model_fixtures.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

constexpr double kLogitTol = 1e-4;  // max abs, fp32 (the bar)
constexpr double kProbTol = 1e-5;

using Fixture = test::ModelFixture;
using test::max_abs_diff;

Fixture load(const std::string& name) { return test::load_fixture(name); }

class FamilyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyTest, LogitsMatchHuggingFace) {
  Fixture f = load(GetParam());
  ForwardRequest req;
  req.input_ids = f.get("input_ids");
  at::NoGradGuard g;
  ForwardResult out = f.model->forward(req);
  EXPECT_EQ(out.logits.sizes(), f.get("logits").sizes());
  EXPECT_LT(max_abs_diff(out.logits, f.get("logits")), kLogitTol);
  // The reference logits are far from trivial, so agreement means something.
  EXPECT_GT(f.get("logits").std().item<double>(), 0.5);
}

TEST_P(FamilyTest, AttentionProbabilitiesMatchHuggingFace) {
  Fixture f = load(GetParam());
  ForwardRequest req;
  req.input_ids = f.get("input_ids");
  AttentionControl ctl;
  ctl.keep_probs = true;
  at::NoGradGuard g;
  test::expect_attention_matches(f, f.model->forward(req, ctl), kProbTol);
}

TEST_P(FamilyTest, PaddedBatchMatchesReferenceAndUnpaddedRows) {
  Fixture f = load(GetParam());
  at::Tensor ids = f.get("batch_ids"), mask = f.get("batch_mask"), want = f.get("batch_logits");
  ForwardRequest req;
  req.input_ids = ids;
  req.attention_mask = mask;
  at::NoGradGuard g;
  at::Tensor logits = f.model->forward(req).logits;  // (3, Tb, V)
  for (int64_t b = 0; b < ids.size(0); ++b) {
    at::Tensor real = mask[b].nonzero().flatten();  // positions holding real tokens
    at::Tensor got_b = logits[b].index_select(0, real);
    EXPECT_LT(max_abs_diff(got_b, want[b].index_select(0, real)), kLogitTol) << "row " << b;
    // Batch 1 on the same row without padding gives the same numbers.
    ForwardRequest one;
    one.input_ids = ids[b].index_select(0, real).unsqueeze(0);
    at::Tensor alone = f.model->forward(one).logits[0];
    EXPECT_LT(max_abs_diff(got_b, alone), kLogitTol) << "row " << b;
  }
}

TEST_P(FamilyTest, LogitPositionsRunTheHeadOnlyWhereAsked) {
  Fixture f = load(GetParam());
  at::NoGradGuard g;
  ForwardRequest req;
  req.input_ids = f.get("input_ids").repeat({2, 1});
  at::Tensor full = f.model->forward(req).logits;
  req.logit_positions = at::tensor(std::vector<int64_t>{3, 19, 7}, at::kLong);
  at::Tensor some = f.model->forward(req).logits;
  ASSERT_EQ(some.sizes(), (std::vector<int64_t>{2, 3, full.size(2)}));
  EXPECT_LT(max_abs_diff(some, full.index_select(1, req.logit_positions)), 1e-5);
  // Per-row positions (B, P).
  req.logit_positions = at::tensor(std::vector<int64_t>{0, 5, 2, 9}, at::kLong).view({2, 2});
  at::Tensor rows = f.model->forward(req).logits;
  EXPECT_LT(max_abs_diff(rows[0][1], full[0][5]), 1e-5);
  EXPECT_LT(max_abs_diff(rows[1][0], full[1][2]), 1e-5);
  req.logit_positions = at::tensor(std::vector<int64_t>{20}, at::kLong);
  test::expect_error([&] { f.model->forward(req); }, {"logit_positions", "outside"});
}

// With logits asked only from position r0 on, the last layer runs its attention, output
// projection and MLP on rows r0.. only: the same logits as the whole forward (plain, padded, after
// a cached prefix, with AtMan's key factors), the same input gradients through the blockwise
// backward, and probs_grad reports the last layer's rows at their own row numbers.
TEST_P(FamilyTest, LastLayerRowsFromTheLowestAskedPositionGiveTheSameNumbers) {
  Fixture f = load(GetParam());
  const at::Tensor ids = f.get("input_ids").repeat({2, 1});
  const int64_t T = ids.size(1), L = f.model->spec().num_layers;
  const at::Tensor pos = at::tensor(std::vector<int64_t>{T - 3, T - 1, T - 7}, at::kLong);
  auto both = [&](ForwardRequest req, const AttentionControl& ctl, const char* what) {
    at::NoGradGuard g;
    at::Tensor full = f.model->forward(req, ctl).logits.index_select(1, pos);
    req.logit_positions = pos;
    EXPECT_LT(max_abs_diff(f.model->forward(req, ctl).logits, full), 1e-5) << what;
  };
  ForwardRequest plain;
  plain.input_ids = ids;
  both(plain, AttentionControl(), "plain");
  ForwardRequest padded;
  padded.input_ids = ids;
  padded.attention_mask = at::ones({2, T}, at::kLong);
  padded.attention_mask[1].slice(0, 0, 4).zero_();  // row 1 left-padded by 4
  both(padded, AttentionControl(), "padded");
  AttentionControl atman;
  atman.key_factors = at::ones({2, T}, at::kFloat);
  atman.key_factors[0][3] = 0.1f;
  atman.key_factors[1][T - 5] = 0.1f;
  both(plain, atman, "key factors");
  {
    at::NoGradGuard g;
    ForwardRequest head;
    head.input_ids = ids.slice(1, 0, 6);
    head.return_cache = true;
    const ForwardResult prefix = f.model->forward(head);
    ForwardRequest tail;
    tail.input_ids = ids.slice(1, 6);
    tail.past = &prefix.cache;
    const at::Tensor tail_pos = pos - 6;
    at::Tensor full = f.model->forward(tail).logits.index_select(1, tail_pos);
    tail.logit_positions = tail_pos;
    EXPECT_LT(max_abs_diff(f.model->forward(tail).logits, full), 1e-5) << "cached prefix";
  }

  // Gradients, and probs_grad's rows in the last layer.
  at::Tensor grads[2], last_rows[2];
  for (int r = 0; r < 2; ++r) {
    at::AutoGradMode on(true);
    at::Tensor emb = f.model->embed(ids).detach().requires_grad_(true);
    ForwardRequest req;
    req.inputs_embeds = emb;
    if (r == 1) req.logit_positions = pos;
    AttentionControl ctl;
    ctl.layers = {static_cast<int>(L - 1)};
    last_rows[r] = at::zeros({2, f.model->spec().num_heads, T, T}, at::kFloat);
    ctl.probs_grad = [&](int layer, int64_t row0, const at::Tensor& a, const at::Tensor& da) {
      EXPECT_EQ(layer, L - 1);
      last_rows[r].slice(2, row0, row0 + a.size(2)).slice(3, 0, a.size(3)).copy_(a * da);
    };
    at::Tensor logits = f.model->forward(req, ctl).logits;
    if (r == 0) logits = logits.index_select(1, pos);
    grads[r] = torch::autograd::grad({logits.sum()}, {emb})[0];
  }
  EXPECT_LT(max_abs_diff(grads[1], grads[0]) / grads[0].abs().max().item<double>(), 1e-5);
  EXPECT_GT(grads[0].abs().max().item<double>(), 1e-3);
  // Rows from T - 7 on carry the gradient in both; the whole forward's earlier rows get none.
  // Relative to the largest entry, like the gradients: the two forwards sum in different orders,
  // and the absolute rounding then depends on the CPU's kernels (1.4e-5 on one AMD EPYC).
  EXPECT_LT(max_abs_diff(last_rows[1], last_rows[0]) / last_rows[0].abs().max().item<double>(),
            1e-5);
  EXPECT_GT(last_rows[0].slice(2, T - 7).abs().max().item<double>(), 1e-6);
}

TEST_P(FamilyTest, CachedPrefixContinuesExactly) {
  Fixture f = load(GetParam());
  at::NoGradGuard g;
  at::Tensor ids = f.get("input_ids");
  const int64_t T = ids.size(1), split = 12;
  ForwardRequest full;
  full.input_ids = ids;
  at::Tensor want = f.model->forward(full).logits;

  ForwardRequest head;
  head.input_ids = ids.slice(1, 0, split);
  head.return_cache = true;
  ForwardResult prefix = f.model->forward(head);
  ASSERT_EQ(prefix.cache.length(), split);

  ForwardRequest tail;
  tail.input_ids = ids.slice(1, split).repeat({3, 1});  // a batch-1 prefix serves a batch of 3
  tail.past = &prefix.cache;
  tail.return_cache = true;
  ForwardResult rest = f.model->forward(tail);
  EXPECT_EQ(rest.cache.length(), T);
  for (int64_t b = 0; b < 3; ++b) {
    EXPECT_LT(max_abs_diff(rest.logits[b], want[0].slice(0, split)), kLogitTol) << "row " << b;
  }
}

TEST_P(FamilyTest, InputsEmbedsEqualInputIds) {
  Fixture f = load(GetParam());
  at::NoGradGuard g;
  ForwardRequest a, b;
  a.input_ids = f.get("input_ids");
  b.inputs_embeds = f.model->embed(a.input_ids);
  EXPECT_EQ(b.inputs_embeds.sizes(),
            (std::vector<int64_t>{1, a.input_ids.size(1), f.model->spec().hidden_size}));
  EXPECT_LT(max_abs_diff(f.model->forward(a).logits, f.model->forward(b).logits), 1e-6);
}

TEST_P(FamilyTest, StartingAtALayerFromItsInputContinuesExactly) {
  Fixture f = load(GetParam());
  at::Tensor ids = f.get("input_ids");
  const int64_t L = f.model->spec().num_layers;
  ForwardRequest full;
  full.input_ids = ids;
  full.return_layer_inputs = true;
  ForwardResult clean;
  {
    at::NoGradGuard g;
    clean = f.model->forward(full);
  }
  ASSERT_EQ(static_cast<int64_t>(clean.layer_inputs.size()), L);
  // The embeddings (with GPT-2's positions) enter layer 0.
  EXPECT_FALSE(at::equal(clean.layer_inputs[0], f.model->embed(ids)) &&
               f.model->spec().family == Family::kGpt2);
  for (int64_t l = 0; l < L; ++l) {
    for (bool grad : {false, true}) {  // the fused inference path and the written-out one
      at::AutoGradMode mode(grad);
      ForwardRequest part;
      part.start_layer = static_cast<int>(l);
      part.hidden_states = clean.layer_inputs[l].expand({2, -1, -1});
      part.return_layer_inputs = true;
      ForwardResult r = f.model->forward(part);
      for (int64_t b = 0; b < 2; ++b) {
        EXPECT_LT(max_abs_diff(r.logits[b], clean.logits[0]), kLogitTol)
            << "layer " << l << " row " << b << (grad ? " with grad" : "");
      }
      EXPECT_TRUE(r.layer_inputs[l].defined());
      if (l > 0) {
        EXPECT_FALSE(r.layer_inputs[l - 1].defined());
      }
    }
  }
  ForwardRequest bad;
  bad.input_ids = ids;
  bad.start_layer = 1;
  test::expect_error([&] { f.model->forward(bad); }, {"start_layer 1", "hidden_states"});
  bad.input_ids = at::Tensor();
  bad.hidden_states = clean.layer_inputs[0];
  bad.start_layer = static_cast<int>(L);
  test::expect_error([&] { f.model->forward(bad); }, {"start_layer", "not a layer"});
}

TEST_P(FamilyTest, EndingAtALayerGivesItsInputAndTheRestContinues) {
  Fixture f = load(GetParam());
  at::Tensor ids = f.get("input_ids");
  const int L = static_cast<int>(f.model->spec().num_layers);
  ForwardRequest full;
  full.input_ids = ids;
  full.return_layer_inputs = true;
  at::NoGradGuard g;
  const ForwardResult clean = f.model->forward(full);
  for (int end = 0; end <= L; ++end) {
    ForwardRequest low;
    low.input_ids = ids;
    low.end_layer = end;
    const ForwardResult r = f.model->forward(low);
    EXPECT_FALSE(r.logits.defined()) << "end_layer " << end;
    if (end < L) {  // what a full forward has entering that layer
      EXPECT_LT(max_abs_diff(r.hidden_states, clean.layer_inputs[end]), 1e-6) << "end " << end;
      ForwardRequest high;  // and the layers above, from there, give the full forward's logits
      high.start_layer = end;
      high.hidden_states = r.hidden_states;
      EXPECT_LT(max_abs_diff(f.model->forward(high).logits, clean.logits), kLogitTol);
    }
  }
  // A middle slice [1, L - 1) from layer 1's input ends where the last layer starts.
  ForwardRequest mid;
  mid.start_layer = 1;
  mid.hidden_states = clean.layer_inputs[1];
  mid.end_layer = L - 1;
  EXPECT_LT(max_abs_diff(f.model->forward(mid).hidden_states, clean.layer_inputs[L - 1]), 1e-5);
  ForwardRequest bad;
  bad.input_ids = ids;
  bad.end_layer = L + 1;
  test::expect_error([&] { f.model->forward(bad); }, {"end_layer", "not in [start_layer"});
  bad.end_layer = 1;
  bad.logit_positions = at::tensor(std::vector<int64_t>{0}, at::kLong);
  test::expect_error([&] { f.model->forward(bad); }, {"end_layer", "logit_positions"});
}

TEST_P(FamilyTest, RejectsIdsOutsideTheVocabulary) {
  Fixture f = load(GetParam());
  ForwardRequest req;
  req.input_ids =
      at::tensor(std::vector<int64_t>{1, f.model->spec().vocab_size}, at::kLong).view({1, 2});
  test::expect_error([&] { f.model->forward(req); }, {"outside the vocabulary"});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FamilyTest,
                         ::testing::Values("gpt2", "llama_gqa", "llama3_rope", "qwen2", "mistral",
                                           "gpt_neox", "gpt_neox_seq", "gptj"));

class RotaryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RotaryTest, InverseFrequenciesMatchHuggingFace) {
  Fixture f = load(GetParam());
  at::Tensor got = rope_inverse_frequencies(f.model->spec());
  at::Tensor want = f.get("inv_freq");
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(at::allclose(got, want, 1e-6, 0)) << got << want;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RotaryTest,
                         ::testing::Values("llama_gqa", "llama3_rope", "qwen2", "mistral",
                                           "gpt_neox", "gpt_neox_seq"));

}  // namespace
}  // namespace xai
