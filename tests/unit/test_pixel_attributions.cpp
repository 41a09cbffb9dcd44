// Pixel attributions of the gradient methods on an image (extra "pixel_relevance"): saliency's
// sum over channels of |df/dx| and IxG's sum of x * df/dx, checked against central finite
// differences of the class logit on the toy ViT at the pixels the map ranks highest, and the two
// maps against each other where the gradient's channels share a sign; integrated gradients on
// pixels: each pixel against finite differences at every point of the path, the sum of the map
// against f(x) - f(0) (completeness), and each patch's score against the sum of its pixels.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "datasets/toy/toy_shapes.h"
#include "framework/config/config.h"
#include "framework/image/image_processor.h"
#include "framework/image/image_sample.h"
#include "framework/model/model.h"
#include "methods/explainer.h"
#include "methods/integrated_gradients.h"
#include "methods/saliency.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

std::string source_path(const std::string& rel) { return std::string(XAI_SOURCE_DIR) + "/" + rel; }

using test::build;

// The class logit at [CLS] for pixels (C, H, W).
double class_logit(Model& model, const at::Tensor& pixels, int64_t cls) {
  at::NoGradGuard no_grad;
  ForwardRequest req;
  req.pixel_values = pixels.unsqueeze(0);
  req.logit_positions = at::zeros({1}, at::kLong);
  return model.forward(req).logits[0][0][cls].item<double>();
}

TEST(PixelAttributions, SaliencyAndIxGMatchFiniteDifferences) {
  const std::string dir = source_path("datasets/toy/models/toy_vit");
  auto model = load_model(dir);
  const ImageProcessor p = ImageProcessor::from_file(dir + "/preprocessor_config.json");
  toy::ToyShapeOptions o;
  for (int64_t i : {2, 9}) {
    const Encoded e =
        encode_image_sample(toy::toy_shape_sample(o, i), p, {32, 4}, model->spec().labels);
    ExplainContext ctx;
    const Explanation sal = build("saliency", "{target: logit}")->explain(*model, e, ctx);
    const Explanation ixg = build("input_x_gradient", "{target: logit}")->explain(*model, e, ctx);
    ASSERT_TRUE(sal.extras.count(kPixelRelevance));
    ASSERT_TRUE(ixg.extras.count(kPixelRelevance));
    const at::Tensor smap = sal.extras.at(kPixelRelevance), imap = ixg.extras.at(kPixelRelevance);
    ASSERT_EQ(smap.sizes(), (std::vector<int64_t>{1, 32, 32}));
    ASSERT_EQ(imap.sizes(), (std::vector<int64_t>{1, 32, 32}));
    const at::Tensor x = at::tensor(*e.pixels).view({3, 32, 32});
    const int64_t cls = e.target_ids[0];
    // The 12 pixels saliency ranks highest: the channel gradients by central differences.
    const at::Tensor top = std::get<1>(smap[0].flatten().topk(12));
    const double h = 1e-2;
    for (int64_t k = 0; k < top.size(0); ++k) {
      const int64_t idx = top[k].item<int64_t>(), y = idx / 32, xx = idx % 32;
      double abs_sum = 0, ixg_sum = 0;
      for (int64_t c = 0; c < 3; ++c) {
        at::Tensor plus = x.clone(), minus = x.clone();
        plus[c][y][xx] += h;
        minus[c][y][xx] -= h;
        const double g =
            (class_logit(*model, plus, cls) - class_logit(*model, minus, cls)) / (2 * h);
        abs_sum += std::abs(g);
        ixg_sum += x[c][y][xx].item<double>() * g;
      }
      const double s = smap[0][y][xx].item<double>(), v = imap[0][y][xx].item<double>();
      EXPECT_NEAR(s, abs_sum, 0.02 * abs_sum + 1e-4)
          << "sample " << i << " pixel " << y << "," << xx;
      EXPECT_NEAR(v, ixg_sum, 0.02 * abs_sum * x.abs().max().item<double>() + 1e-4)
          << "sample " << i << " pixel " << y << "," << xx;
    }
    // Text samples get no pixel map.
    EXPECT_EQ(sal.relevance.numel(), e.size());
  }
}

TEST(PixelAttributions, IntegratedGradientsOnPixels) {
  const std::string dir = source_path("datasets/toy/models/toy_vit");
  auto model = load_model(dir);
  const ImageProcessor p = ImageProcessor::from_file(dir + "/preprocessor_config.json");
  toy::ToyShapeOptions o;
  const int64_t steps = 8;
  const auto [alphas, weights] =
      ig_quadrature(IntegratedGradientsOptions::Quadrature::kGaussLegendre, steps);
  for (int64_t i : {4, 11}) {
    const Encoded e =
        encode_image_sample(toy::toy_shape_sample(o, i), p, {32, 4}, model->spec().labels);
    ExplainContext ctx;
    const Explanation ig = build("integrated_gradients", "{target: logit, steps: 8, batch_size: 3}")
                               ->explain(*model, e, ctx);
    ASSERT_TRUE(ig.extras.count(kPixelRelevance));
    const at::Tensor map = ig.extras.at(kPixelRelevance).to(at::kDouble);
    ASSERT_EQ(map.sizes(), (std::vector<int64_t>{1, 32, 32}));
    const at::Tensor x = at::tensor(*e.pixels).view({3, 32, 32});
    const int64_t cls = e.target_ids[0];

    // Completeness: the map sums to what the patch scores sum to, f(x) - f(0) + delta.
    const double change = class_logit(*model, x, cls) - class_logit(*model, at::zeros_like(x), cls);
    const double delta = ig.extras.at("convergence_delta")[0].item<double>();
    EXPECT_NEAR(map.sum().item<double>(), change + delta, 1e-3 * std::abs(change));
    // Within the method's own delta_tolerance (0.1) at 8 steps on the toy ViT.
    EXPECT_LT(std::abs(delta), 0.1 * std::abs(change));

    // A patch's score is the sum of its 4 x 4 pixels' (the patch embedding is per patch).
    const at::Tensor blocks = map[0].view({8, 4, 8, 4}).sum({1, 3}).flatten();  // (64)
    const at::Tensor patches = ig.per_target[0].narrow(0, 1, 64).to(at::kDouble);
    EXPECT_LT((blocks - patches).abs().max().item<double>(),
              1e-4 * patches.abs().max().item<double>() + 1e-6);

    // Each of the 12 strongest pixels: sum_c x_c sum_k w_k df/dx_c(a_k x) by central differences.
    const at::Tensor top = std::get<1>(map[0].abs().flatten().topk(12));
    const double h = 1e-2;
    for (int64_t k = 0; k < top.size(0); ++k) {
      const int64_t idx = top[k].item<int64_t>(), y = idx / 32, xx = idx % 32;
      double want = 0;
      for (size_t q = 0; q < alphas.size(); ++q) {
        const at::Tensor point = x * alphas[q];
        for (int64_t c = 0; c < 3; ++c) {
          at::Tensor plus = point.clone(), minus = point.clone();
          plus[c][y][xx] += h;
          minus[c][y][xx] -= h;
          const double g =
              (class_logit(*model, plus, cls) - class_logit(*model, minus, cls)) / (2 * h);
          want += weights[q] * x[c][y][xx].item<double>() * g;
        }
      }
      EXPECT_NEAR(map[0][y][xx].item<double>(), want, 0.02 * std::abs(want) + 1e-4)
          << "sample " << i << " pixel " << y << "," << xx;
    }
  }
}

}  // namespace
}  // namespace xai
