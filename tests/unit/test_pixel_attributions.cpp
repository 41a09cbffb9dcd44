// Pixel attributions of the gradient methods on an image (extra "pixel_relevance"): saliency's
// sum over channels of |df/dx| and IxG's sum of x * df/dx, checked against central finite
// differences of the class logit on the toy ViT at the pixels the map ranks highest, and the two
// maps against each other where the gradient's channels share a sign.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "datasets/toy/toy_shapes.h"
#include "framework/config/config.h"
#include "framework/image/image_processor.h"
#include "framework/image/image_sample.h"
#include "framework/model/model.h"
#include "methods/explainer.h"
#include "methods/saliency.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

std::string source_path(const std::string& rel) { return std::string(XAI_SOURCE_DIR) + "/" + rel; }

std::unique_ptr<Explainer> build(const std::string& method, const std::string& params) {
  Config c = Config::parse(params, "test");
  auto e = make_explainer(method, c.root());
  c.finish_all();
  return e;
}

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

}  // namespace
}  // namespace xai
