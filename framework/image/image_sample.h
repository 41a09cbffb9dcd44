// encode_image_sample: an image Sample -> the patch view explainers read (Encoded with pixels):
// [CLS] then the patches row-major, the class at [CLS], every patch explained, the mask's value on
// the patch grid as the evidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/image/image_processor.h"
#include "framework/text/encoded.h"

namespace xai {

// What the model expects: config.json's image_size (square) and patch_size.
struct ImageGeometry {
  int64_t image_size = 0, patch_size = 0;
  int64_t grid() const { return patch_size > 0 ? image_size / patch_size : 0; }
};

// The model's input pixels (3 x S x S) for an image: preprocess, then the check that the result is
// the model's image size; throws xai::Error naming `what` (the sample, the file) otherwise.
std::vector<float> model_pixels(const Image& image, const ImageProcessor& processor,
                                const ImageGeometry& geometry, const std::string& what);

// Throws xai::Error naming the sample (and its file) when it has no image or no label, when the
// label is not a class, or when the processor's output is not the model's image size.
Encoded encode_image_sample(const Sample& sample, const ImageProcessor& processor,
                            const ImageGeometry& geometry, const std::vector<std::string>& labels);

// "patch 3,7" (row, column) for position t >= 1 of a grid-wide patch grid; "[CLS]" for 0.
std::string patch_name(int64_t t, int64_t grid);

}  // namespace xai
