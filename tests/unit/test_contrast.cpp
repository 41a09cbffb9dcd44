// Contrastive targets (Encoded::foil_ids): every method that is linear in the explained function
// (AtMan's cross-entropy differences, occlusion, input x gradient, saliency with a signed sum,
// integrated gradients, AttnLRP, AttAttr) gives for the contrast exactly its map for the target
// minus its map with the foil as the target (the independent reference: two plain runs); the
// attention-only methods do not read the target; a classifier takes a class as its foil; and the
// encoder refuses a foil it cannot align, naming the sample.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/text/encoded.h"
#include "framework/text/tokenizer.h"
#include "methods/explainer.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

using test::build;

at::Tensor per_target(Model& m, const std::string& method, const std::string& params,
                      const Encoded& s) {
  ExplainContext ctx;
  return build(method, params)->explain(m, s, ctx).per_target.to(at::kDouble);
}

// method, its parameters with a linear (signed) reading of the explained function.
const std::vector<std::pair<std::string, std::string>> kLinear = {
    {"atman", "{kappa: 0.5, batch_size: 3}"},
    {"occlusion", "{batch_size: 4}"},
    {"input_x_gradient", "{}"},
    {"saliency", "{embedding_aggregation: sum}"},
    {"integrated_gradients", "{steps: 8}"},
    {"attnlrp", "{}"},
    {"attattr", "{steps: 4}"},
};

TEST(Contrast, LinearMethodsGiveTheTargetsMapMinusTheFoils) {
  for (const char* family : {"gpt2", "llama_gqa"}) {
    auto model = load_model(fixture(std::string("models/") + family));
    at::manual_seed(11);
    const at::Tensor t = at::randint(3, 200, {12}, at::kLong);
    Encoded target = test::make_sample(t.slice(0, 0, 11), 10, t.slice(0, 10));  // 2 targets
    Encoded foil = target;
    foil.target_ids = {target.target_ids[0] + 1, target.target_ids[1] + 7};
    Encoded contrast = target;
    contrast.foil_ids = foil.target_ids;
    for (const auto& [method, params] : kLinear) {
      const at::Tensor got = per_target(*model, method, params, contrast);
      const at::Tensor want =
          per_target(*model, method, params, target) - per_target(*model, method, params, foil);
      const double scale = 1 + want.abs().max().item<double>();
      EXPECT_LT((got - want).abs().max().item<double>(), 2e-4 * scale)
          << family << " " << method << "\n"
          << got << want;
      // (A signed sum of the embedding gradient is 0 behind GPT-2's input LayerNorm, which
      // ignores shifts: nothing to change there.)
      if (want.abs().max().item<double>() > 1e-3) {
        EXPECT_GT((got - per_target(*model, method, params, target)).abs().max().item<double>(),
                  1e-4)
            << family << " " << method << ": the foil changed nothing";
      }
    }
    // Attention and rollout read no target: the contrast leaves them as they are.
    for (const char* m : {"attention", "rollout"}) {
      EXPECT_TRUE(
          at::equal(per_target(*model, m, "{}", contrast), per_target(*model, m, "{}", target)))
          << m;
    }
  }
}

TEST(Contrast, AClassifiersFoilIsAnotherClass) {
  auto bert = load_model(fixture("models/bert"));
  Encoded target = test::class_sample(at::tensor(std::vector<int64_t>{2, 14, 27, 9, 31, 3}), 2);
  Encoded foil = target;
  foil.target_ids = {0};
  Encoded contrast = target;
  contrast.foil_ids = {0};
  for (const auto& [method, params] : kLinear) {
    const at::Tensor got = per_target(*bert, method, params, contrast);
    const at::Tensor want =
        per_target(*bert, method, params, target) - per_target(*bert, method, params, foil);
    EXPECT_LT((got - want).abs().max().item<double>(), 2e-4 * (1 + want.abs().max().item<double>()))
        << method;
  }
}

TEST(Contrast, TheEncoderAlignsTheFoilOrSaysWhyNot) {
  const Tokenizer tok = Tokenizer::from_file(fixture("models/gpt2/tokenizer.json"));
  Sample s;
  s.id = "q1";
  s.prompt = "Mara works in";
  s.target = " Rome";
  s.foil = " Lima";
  const Encoded e = encode_sample(s, tok, 64);
  ASSERT_EQ(e.foil_ids.size(), e.target_ids.size());
  EXPECT_EQ(e.foil_ids, tok.encode(" Lima", false).ids);
  s.foil = " Lima and Oslo";
  test::expect_error([&] { encode_sample(s, tok, 64); },
                     {"sample 'q1'", "the foil ' Lima and Oslo' encodes to", "token by token"});
  s.foil = " Rome";
  test::expect_error([&] { encode_sample(s, tok, 64); }, {"sample 'q1'", "the target itself"});
  // A classifier: the foil is a class, by name or id.
  Sample c;
  c.id = "c1";
  c.prompt = "the cat";
  c.label = "1";
  c.foil = "0";
  const Encoded ce = encode_sample(c, tok, 64, {"neg", "pos"});
  EXPECT_EQ(ce.foil_ids, std::vector<int64_t>{0});
  c.foil = "maybe";
  test::expect_error(
      [&] {
        encode_sample(c, tok, 64, {"neg", "pos"});
      },
      {"sample 'c1''s foil", "label 'maybe' is not a class"});
  c.foil = "pos";
  test::expect_error(
      [&] {
        encode_sample(c, tok, 64, {"neg", "pos"});
      },
      {"the foil 'pos' is the class explained"});
}

}  // namespace
}  // namespace xai
