// Every explainer that applies to an encoder classifier (BERT, RoBERTa, and ViT on image samples)
// against the written-out reference (tests/reference/encoder_reference.py): AtMan, saliency, input
// x gradient, integrated gradients, raw attention, rollout, Chefer, AttAttr, AttnLRP (and CP-LRP)
// and Chefer's LRP, the target a class read at [CLS]; on images also the pixel maps of saliency,
// IxG and IG (IG's path through the pixels). Plus what makes a classification sample differ from a
// next-token one: the class is the one target, every token (later ones too) may be relevant, and
// AtMan reuses no prefix.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/explainer.h"
#include "methods/saliency.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::class_sample;
using test::fixture;
using test::image_sample;

using test::build;

class EncoderMethods : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderMethods, EveryApplicableExplainerMatchesTheReference) {
  auto model = load_model(fixture("models/" + GetParam()));
  auto ref = SafetensorsFile::open(fixture("encoders/" + GetParam() + ".safetensors"));
  const auto configs = nlohmann::json::parse(test::read_file(fixture("encoders/configs.json")));
  int checked = 0, pixel_maps = 0;
  std::map<std::string, double> worst;  // largest relative error per configuration, printed
  // BERT's third sample is a text pair (token types 0, then 1).
  const int samples = ref->find("p2.ids") != nullptr ? 3 : 2;
  for (int p = 0; p < samples; ++p) {
    const std::string k = "p" + std::to_string(p) + ".";
    const int64_t label = ref->get(k + "label").item<int64_t>();
    Encoded s = ref->find(k + "pixels") != nullptr
                    ? image_sample(ref->get(k + "pixels"), model->spec().num_patches(), label)
                    : class_sample(ref->get(k + "ids"), label);
    if (ref->find(k + "types") != nullptr) {
      const at::Tensor types = ref->get(k + "types").to(at::kLong).contiguous();
      s.token_types.assign(types.data_ptr<int64_t>(), types.data_ptr<int64_t>() + types.numel());
    }
    ASSERT_TRUE(s.classification());
    for (auto it = configs.begin(); it != configs.end(); ++it) {
      nlohmann::json params = it.value();
      const std::string method = params["method"].get<std::string>();
      params.erase("method");
      auto explainer = build(method, params.dump());
      ExplainContext ctx;
      Explanation e = explainer->explain(*model, s, ctx);
      const at::Tensor want = ref->get(k + it.key() + ".per_target");
      ASSERT_EQ(e.per_target.sizes(), want.sizes()) << it.key();
      const double err = test::relative_error(e.per_target, want);
      worst[it.key()] = std::max(worst[it.key()], err);
      EXPECT_LT(err, 1e-4) << it.key() << " prompt " << p << "\n" << e.per_target << "\n" << want;
      // Not a trivial agreement: the reference scores the last token (after [CLS]) too.
      EXPECT_GT(want[0][s.size() - 2].abs().item<double>(), 1e-7) << it.key();
      ++checked;
      // An image's pixel map (the gradient methods), computed by the reference from the pixels.
      if (ref->find(k + it.key() + ".pixel_relevance") != nullptr) {
        ASSERT_TRUE(e.extras.count(kPixelRelevance)) << it.key();
        const at::Tensor map = e.extras.at(kPixelRelevance);
        const at::Tensor want_map = ref->get(k + it.key() + ".pixel_relevance");
        ASSERT_EQ(map.sizes(), want_map.sizes()) << it.key();
        EXPECT_LT(test::relative_error(map, want_map), 1e-4) << it.key() << " pixels";
        ++pixel_maps;
      }
    }
  }
  EXPECT_EQ(checked, samples * static_cast<int>(configs.size()));
  EXPECT_EQ(pixel_maps, GetParam() == "vit" ? 6 : 0);  // saliency, IxG and IG on 2 images
  for (const auto& [c, e] : worst) std::printf("  %s: max relative error %.2e\n", c.c_str(), e);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EncoderMethods, ::testing::Values("bert", "roberta", "vit"));

TEST(EncoderSamples, ATextClassificationSampleEncodesItsClass) {
  const Tokenizer tok = Tokenizer::from_file(fixture("models/bert/tokenizer.json"));
  const std::vector<std::string> labels = {"contradiction", "entailment", "neutral"};
  Sample s;
  s.id = "s1";
  s.prompt = "the cat sat";
  s.label = "neutral";
  Encoded e = encode_sample(s, tok, 64, labels);
  EXPECT_TRUE(e.classification());
  EXPECT_EQ(e.readout, 0);
  EXPECT_EQ(e.target_ids, std::vector<int64_t>{2});
  EXPECT_EQ(e.prompt_len, e.size());
  EXPECT_EQ(e.logit_position(0), 0);
  EXPECT_EQ(e.explain_mask.front(), 0);  // [CLS] and [SEP]: special, not explained
  EXPECT_EQ(e.explain_mask.back(), 0);
  EXPECT_EQ(e.explain_mask[1], 1);
  s.label = "1";  // by id
  EXPECT_EQ(encode_sample(s, tok, 64, labels).target_ids, std::vector<int64_t>{1});
  s.label = "happy";
  test::expect_error([&] { encode_sample(s, tok, 64, labels); },
                     {"sample 's1'", "label 'happy'", "contradiction, entailment, neutral"});
  s.label = "7";
  test::expect_error([&] { encode_sample(s, tok, 64, labels); }, {"label '7'", "0 to 2"});
  s.label = "";
  test::expect_error([&] { encode_sample(s, tok, 64, labels); }, {"sample 's1'", "no label"});
  s.label = "neutral";
  s.target = " x";
  test::expect_error([&] { encode_sample(s, tok, 64, {}); }, {"has a label", "not a classifier"});
}

TEST(EncoderSamples, LaterTokensKeepTheirScoresAndAtManRunsNoPrefix) {
  // In a decoder, positions after the predicting one get no score; a classifier reads [CLS] and
  // every later token may matter. AtMan's prefix reuse would be wrong here: its scores must equal
  // those with prefix_reuse off.
  auto model = load_model(fixture("models/bert"));
  auto ref = SafetensorsFile::open(fixture("encoders/bert.safetensors"));
  const Encoded s = class_sample(ref->get("p0.ids"), ref->get("p0.label").item<int64_t>());
  ExplainContext ctx;
  Explanation a = build("atman", R"({"kappa": null})")->explain(*model, s, ctx);
  Explanation b =
      build("atman", R"({"kappa": null, "prefix_reuse": false})")->explain(*model, s, ctx);
  EXPECT_TRUE(at::allclose(a.per_target, b.per_target, 1e-6, 1e-7));
  EXPECT_GT(a.per_target.abs().slice(1, 1).min().item<double>(), 0.0);
  Explanation g = build("input_x_gradient", "{}")->explain(*model, s, ctx);
  EXPECT_GT(g.per_target.abs().slice(1, 1).min().item<double>(), 0.0);
}

}  // namespace
}  // namespace xai
