// Heatmap overlays: an explanation on the patch grid drawn over the original image, as PNG.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/image/image.h"
#include "framework/image/image_processor.h"

namespace xai {

// `grid` (grid_h x grid_w, row-major; NaN = no score) is max-normalised (|v| / max |v|),
// upsampled bilinearly to the original image through the processor's resize and crop (pixels
// outside the crop get no heat), coloured black-red-yellow-white ("hot") and blended over the
// image (RGB) with weight `alpha` * heat, so cold pixels keep the image.
Image heatmap_overlay(const Image& image, const std::vector<double>& grid, int64_t grid_h,
                      int64_t grid_w, const ImageProcessor& processor, double alpha = 0.6);

}  // namespace xai
