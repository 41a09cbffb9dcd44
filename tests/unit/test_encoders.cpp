// The encoder families (BERT, RoBERTa, ViT) against the Hugging Face reference
// (tests/reference/make_fixtures.py): class logits at [CLS], attention probabilities, token types,
// right-padded batches, the bare encoder's hidden states, and what makes an encoder differ from a
// decoder (bidirectional attention, no cached prefix).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "framework/model/family.h"
#include "framework/model/model.h"
#include "framework/model/synthetic.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/model_fixtures.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

constexpr double kLogitTol = 1e-4;
constexpr double kProbTol = 1e-5;

using Fixture = test::ModelFixture;
using test::max_abs_diff;

Fixture load(const std::string& name) { return test::load_fixture(name); }

// Class logits (B, C) at position 0 ([CLS]).
at::Tensor class_logits(Model& m, const at::Tensor& ids, const at::Tensor& types,
                        const at::Tensor& mask = at::Tensor()) {
  ForwardRequest req;
  req.input_ids = ids;
  if (m.spec().type_vocab_size > 1) req.token_type_ids = types;
  req.attention_mask = mask;
  req.logit_positions = at::zeros({1}, at::kLong);
  at::NoGradGuard g;
  return m.forward(req).logits.select(1, 0);
}

class EncoderTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderTest, ConfigGivesAnEncoderClassifierWithItsLabels) {
  Fixture f = load(GetParam());
  const ModelSpec& s = f.model->spec();
  EXPECT_FALSE(is_causal(s));
  ASSERT_TRUE(s.classifier());
  EXPECT_EQ(s.output_size(), f.get("logits").size(1));
  if (GetParam() == "bert") {
    EXPECT_EQ(s.labels, (std::vector<std::string>{"contradiction", "entailment", "neutral"}));
    EXPECT_EQ(s.position_offset, 0);
  } else {
    EXPECT_EQ(s.labels, (std::vector<std::string>{"negative", "positive"}));
    EXPECT_EQ(s.position_offset, 2);  // pad_token_id 1 + 1
  }
}

TEST_P(EncoderTest, ClassLogitsMatchHuggingFace) {
  Fixture f = load(GetParam());
  at::Tensor got = class_logits(*f.model, f.get("input_ids"), f.get("token_type_ids"));
  at::Tensor want = f.get("logits");
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LT(max_abs_diff(got, want), kLogitTol);
  EXPECT_GT(want.std().item<double>(), 0.1);  // far from trivial, so agreement means something
}

TEST_P(EncoderTest, AttentionProbabilitiesMatchHuggingFace) {
  Fixture f = load(GetParam());
  ForwardRequest req;
  req.input_ids = f.get("input_ids");
  if (f.model->spec().type_vocab_size > 1) req.token_type_ids = f.get("token_type_ids");
  AttentionControl ctl;
  ctl.keep_probs = true;
  at::NoGradGuard g;
  ForwardResult out = f.model->forward(req, ctl);
  test::expect_attention_matches(f, out, kProbTol);
  for (size_t l = 0; l < out.attn_probs.size(); ++l) {
    // Bidirectional: the first query row gives weight to the last key.
    EXPECT_GT(out.attn_probs[l][0][0][0][-1].item<double>(), 1e-4) << "layer " << l;
  }
}

TEST_P(EncoderTest, PaddedBatchMatchesReferenceAndUnpaddedRows) {
  Fixture f = load(GetParam());
  const at::Tensor ids = f.get("batch_ids"), mask = f.get("batch_mask"),
                   types = f.get("batch_types");
  at::Tensor got = class_logits(*f.model, ids, types, mask);
  EXPECT_LT(max_abs_diff(got, f.get("batch_logits")), kLogitTol);
  for (int64_t b = 0; b < ids.size(0); ++b) {
    const at::Tensor real = mask[b].nonzero().flatten();
    const at::Tensor row = ids[b].index_select(0, real).unsqueeze(0);
    const at::Tensor row_types = types[b].index_select(0, real).unsqueeze(0);
    at::Tensor alone = class_logits(*f.model, row, row_types);
    EXPECT_LT(max_abs_diff(got[b], alone[0]), kLogitTol) << "row " << b;
    // Left-padded, the same row gives the same logits read at its first real token: positions
    // are counted over real tokens.
    const int64_t n = real.numel(), pad = ids.size(1) - n;
    if (pad == 0) continue;
    at::Tensor left = at::cat({at::zeros({1, pad}, at::kLong), row}, 1);
    at::Tensor left_types = at::cat({at::zeros({1, pad}, at::kLong), row_types}, 1);
    at::Tensor left_mask =
        at::cat({at::zeros({1, pad}, at::kLong), at::ones({1, n}, at::kLong)}, 1);
    ForwardRequest req;
    req.input_ids = left;
    if (f.model->spec().type_vocab_size > 1) req.token_type_ids = left_types;
    req.attention_mask = left_mask;
    req.logit_positions = at::full({1}, pad, at::kLong);
    at::NoGradGuard g;
    EXPECT_LT(max_abs_diff(f.model->forward(req).logits[0][0], alone[0]), kLogitTol) << "row " << b;
  }
}

TEST_P(EncoderTest, EveryTokenReachesTheClassLogits) {
  // A decoder's position 0 sees only itself; an encoder's [CLS] sees the last token too.
  Fixture f = load(GetParam());
  at::Tensor ids = f.get("input_ids").clone(), types = f.get("token_type_ids");
  at::Tensor before = class_logits(*f.model, ids, types);
  ids[0][-2] = ids[0][-2].item<int64_t>() == 7 ? 8 : 7;
  at::Tensor after = class_logits(*f.model, ids, types);
  EXPECT_GT(max_abs_diff(before, after), 1e-4);
}

TEST_P(EncoderTest, RefusesACachedPrefix) {
  Fixture f = load(GetParam());
  KVCache past;
  past.keys.assign(f.model->spec().num_layers,
                   at::zeros({1, f.model->spec().num_heads, 2, f.model->spec().head_dim}));
  past.values = past.keys;
  ForwardRequest req;
  req.input_ids = f.get("input_ids");
  req.past = &past;
  test::expect_error([&] { f.model->forward(req); }, {"cached prefix", "encoder"});
}

INSTANTIATE_TEST_SUITE_P(Families, EncoderTest, ::testing::Values("bert", "roberta"));

TEST(Encoder, TokenTypesChangeTheLogitsAndAreChecked) {
  Fixture f = load("bert");
  const at::Tensor ids = f.get("input_ids"), types = f.get("token_type_ids");
  at::Tensor with = class_logits(*f.model, ids, types);
  at::Tensor without = class_logits(*f.model, ids, at::zeros_like(types));
  EXPECT_GT(max_abs_diff(with, without), 1e-4);
  ForwardRequest req;
  req.input_ids = ids;
  req.token_type_ids = types + 1;  // type 2 of 2
  test::expect_error([&] { f.model->forward(req); }, {"token types", "outside"});
  Fixture gpt2 = load("gpt2");
  ForwardRequest lm;
  lm.input_ids = gpt2.get("input_ids");
  lm.token_type_ids = at::zeros_like(lm.input_ids);
  test::expect_error([&] { gpt2.model->forward(lm); }, {"token_type_ids", "gpt2"});
}

TEST(Encoder, BareEncoderGivesHiddenStatesNotLogits) {
  Fixture f = load("bert_bare");
  EXPECT_FALSE(f.model->spec().classifier());
  ForwardRequest req;
  req.input_ids = f.get("input_ids");
  req.token_type_ids = f.get("token_type_ids");
  req.end_layer = static_cast<int>(f.model->spec().num_layers);
  at::NoGradGuard g;
  at::Tensor hidden = f.model->forward(req).hidden_states;
  EXPECT_LT(max_abs_diff(hidden, f.get("hidden")), kLogitTol);
  req.end_layer = -1;
  test::expect_error([&] { f.model->forward(req); },
                     {"BertModel", "without a sequence-classification head"});
}

TEST(Encoder, SyntheticEncodersRoundTripTheirConfig) {
  for (const char* family : {"bert", "roberta"}) {
    ModelShape m;
    m.family = family;
    m.layers = 2;
    m.hidden = 32;
    m.heads = 2;
    m.vocab = 300;
    m.max_positions = 40;
    const ModelSpec s = shape_spec(m, "test: ");
    EXPECT_EQ(s.labels.size(), 2u) << family;
    EXPECT_EQ(parse_model_config(model_config_json(s), "again").labels, s.labels) << family;
    auto model = make_synthetic_model(s, 3, LoadOptions(), at::kFloat);
    ForwardRequest req;
    req.input_ids = at::arange(5, 25, at::kLong).unsqueeze(0);
    at::NoGradGuard g;
    EXPECT_EQ(model->forward(req).logits.sizes(), (std::vector<int64_t>{1, 20, 2})) << family;
  }
}

TEST(Encoder, ConfigErrorsNameTheKey) {
  const std::string base =
      R"({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
          "vocab_size": 100, "hidden_size": 16, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 32, )";
  test::expect_error(
      [&] { parse_model_config(base + R"("id2label": {"0": "a", "2": "b"}})", "c"); },
      {"c:", "id2label key '2'"});
  test::expect_error(
      [&] { parse_model_config(base + R"("position_embedding_type": "relative_key"})", "c"); },
      {"position_embedding_type", "relative_key"});
  test::expect_error([&] { parse_model_config(base + R"("problem_type": "regression"})", "c"); },
                     {"problem_type", "regression"});
  EXPECT_EQ(parse_model_config(base + R"("num_labels": 3})", "c").labels.size(), 3u);
}

// ViT: pixels in, class logits at [CLS]; attention over [CLS] and the 16 patches.
TEST(Vit, ClassLogitsAndAttentionMatchHuggingFace) {
  Fixture f = load("vit");
  const ModelSpec& s = f.model->spec();
  EXPECT_FALSE(is_causal(s));
  EXPECT_EQ(s.num_patches(), 16);
  EXPECT_EQ(s.labels, (std::vector<std::string>{"circle", "square", "triangle"}));
  ForwardRequest req;
  req.pixel_values = f.get("pixel_values");
  req.logit_positions = at::zeros({1}, at::kLong);
  AttentionControl ctl;
  ctl.keep_probs = true;
  at::NoGradGuard g;
  ForwardResult out = f.model->forward(req, ctl);
  const at::Tensor want = f.get("logits");
  EXPECT_LT(max_abs_diff(out.logits.select(1, 0), want), kLogitTol);
  EXPECT_GT(want.std().item<double>(), 0.1);
  test::expect_attention_matches(f, out, kProbTol);
  // inputs_embeds as embed_pixels gives them: the same logits (what gradient methods use).
  ForwardRequest embeds;
  embeds.inputs_embeds = f.model->embed_pixels(f.get("pixel_values"));
  embeds.logit_positions = req.logit_positions;
  EXPECT_EQ(embeds.inputs_embeds.sizes(), (std::vector<int64_t>{2, 17, 64}));
  // (The first pass kept the probabilities, written out; this one runs the fused kernel: rounding.)
  EXPECT_LT(max_abs_diff(f.model->forward(embeds).logits, out.logits), 1e-5);
}

TEST(Vit, BareEncoderHiddenStatesAndClearErrors) {
  Fixture f = load("vit_bare");
  ForwardRequest req;
  req.pixel_values = f.get("pixel_values");
  req.end_layer = static_cast<int>(f.model->spec().num_layers);
  at::NoGradGuard g;
  // last_hidden_state is after the final LayerNorm; end_layer gives what enters it.
  const at::Tensor before = f.model->forward(req).hidden_states;
  auto weights = SafetensorsFile::open(fixture("models/vit_bare/model.safetensors"));
  const at::Tensor hidden =
      at::layer_norm(before, {before.size(-1)}, weights->get("layernorm.weight"),
                     weights->get("layernorm.bias"), f.model->spec().norm_eps);
  EXPECT_LT(max_abs_diff(hidden, f.get("hidden")), kLogitTol);
  req.end_layer = -1;
  test::expect_error([&] { f.model->forward(req); },
                     {"ViTModel", "without an image-classification head"});
  Fixture c = load("vit");
  ForwardRequest ids;
  ids.input_ids = at::zeros({1, 5}, at::kLong);
  test::expect_error([&] { c.model->forward(ids); }, {"vit reads images"});
  ForwardRequest wrong;
  wrong.pixel_values = at::zeros({1, 3, 24, 24});
  test::expect_error([&] { c.model->forward(wrong); }, {"pixel_values must be (B, 3, 32, 32)"});
  Fixture text = load("bert");
  test::expect_error(
      [&] {
        text.model->embed_pixels(at::zeros({1, 3, 32, 32}));
      },
      {"bert reads token ids, not pixels"});
}

}  // namespace
}  // namespace xai
