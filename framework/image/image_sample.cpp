// See image_sample.h.
#include "framework/image/image_sample.h"

#include <memory>

#include "framework/common/error.h"

namespace xai {

std::string patch_name(int64_t t, int64_t grid) {
  if (t == 0 || grid <= 0) return "[CLS]";
  return str_cat("patch ", (t - 1) / grid, ",", (t - 1) % grid);
}

std::vector<float> model_pixels(const Image& image, const ImageProcessor& processor,
                                const ImageGeometry& geometry, const std::string& what) {
  std::vector<float> pixels = processor.preprocess(image, what);
  const int64_t S = geometry.image_size;
  XAI_CHECK(static_cast<int64_t>(pixels.size()) == 3 * S * S, what, ": the image processor (",
            processor.describe(), ") gives ", pixels.size() / 3,
            " pixels per channel, the model takes ", S, "x", S, " (image_size in config.json)");
  return pixels;
}

Encoded encode_image_sample(const Sample& sample, const ImageProcessor& processor,
                            const ImageGeometry& geometry, const std::vector<std::string>& labels) {
  const std::string what =
      str_cat("sample '", sample.id, "'", sample.image_path.empty() ? "" : " (", sample.image_path,
              sample.image_path.empty() ? "" : ")");
  XAI_CHECK(sample.image != nullptr, "sample '", sample.id,
            "' has no image, and the model is an image classifier (HINT: a dataset of images: "
            "JSONL lines with \"image\", or type image_folder)");
  XAI_CHECK(!labels.empty(), what,
            ": the model has no classification head (a bare encoder); xai explains image "
            "classifiers (HINT: a *ForImageClassification checkpoint)");
  XAI_CHECK(!sample.label.empty(), what, ": an image sample needs a label (the class to explain)");
  const int64_t cls = class_id(sample.label, labels, str_cat("sample '", sample.id, "'"));

  auto pixels =
      std::make_shared<std::vector<float>>(model_pixels(*sample.image, processor, geometry, what));
  const int64_t S = geometry.image_size, G = geometry.grid();

  Encoded e;
  const int64_t T = 1 + G * G;
  e.ids.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) e.ids[static_cast<size_t>(t)] = t;
  e.prompt_len = T;
  e.readout = 0;
  e.target_ids = {cls};
  if (!sample.foil.empty()) {  // a contrast: another class
    e.foil_ids = {class_id(sample.foil, labels, str_cat("sample '", sample.id, "''s foil"))};
    XAI_CHECK(e.foil_ids != e.target_ids, what, ": the foil '", sample.foil,
              "' is the class explained (HINT: a contrast needs another class)");
  }
  e.pixels = std::move(pixels);
  e.pixel_shape = {3, S, S};
  e.explain_mask.assign(static_cast<size_t>(T), 1);
  e.explain_mask[0] = 0;
  e.offsets.assign(static_cast<size_t>(T), ByteSpan{0, 0});
  e.tokens.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) e.tokens.push_back(patch_name(t, G));
  if (sample.mask != nullptr) {
    const std::vector<float> grid = processor.mask_on_grid(
        *sample.mask, sample.image->height, sample.image->width, geometry.patch_size, what);
    e.evidence_mask.assign(static_cast<size_t>(T), 0.0f);
    std::copy(grid.begin(), grid.end(), e.evidence_mask.begin() + 1);
    // The same rule pixel by pixel (1-pixel patches): the mask at the model input's resolution.
    e.evidence_pixels =
        processor.mask_on_grid(*sample.mask, sample.image->height, sample.image->width, 1, what);
  }
  return e;
}

}  // namespace xai
