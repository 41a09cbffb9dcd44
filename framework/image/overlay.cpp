// See overlay.h.
#include "framework/image/overlay.h"

#include <algorithm>
#include <cmath>

#include "framework/common/error.h"

namespace xai {
namespace {

// The "hot" colour map: black -> red -> yellow -> white over [0, 1].
void hot(double v, double rgb[3]) {
  rgb[0] = std::clamp(v * 3.0, 0.0, 1.0);
  rgb[1] = std::clamp(v * 3.0 - 1.0, 0.0, 1.0);
  rgb[2] = std::clamp(v * 3.0 - 2.0, 0.0, 1.0);
}

}  // namespace

Image heatmap_overlay(const Image& image_in, const std::vector<double>& grid, int64_t grid_h,
                      int64_t grid_w, const ImageProcessor& processor, double alpha) {
  XAI_CHECK(grid_h > 0 && grid_w > 0 && static_cast<int64_t>(grid.size()) == grid_h * grid_w,
            "internal: overlay grid of ", grid.size(), " values for ", grid_h, "x", grid_w);
  const Image image = to_rgb(image_in);
  double mx = 0;
  for (double v : grid) {
    if (!std::isnan(v)) mx = std::max(mx, std::fabs(v));
  }
  auto cell = [&](int64_t y, int64_t x) {
    const double v = grid[static_cast<size_t>(y * grid_w + x)];
    return std::isnan(v) || mx <= 0 ? 0.0 : std::fabs(v) / mx;
  };
  const ImageProcessor::Geometry geo = processor.geometry(image.height, image.width, "overlay");
  const int64_t rh = geo.resized_height, rw = geo.resized_width;
  const int64_t top = geo.top, left = geo.left, H = geo.height, W = geo.width;
  Image out = image;
  for (int64_t y = 0; y < image.height; ++y) {
    // The pixel centre in model-input coordinates, then in grid cells (centre convention).
    const double iy = (y + 0.5) * static_cast<double>(rh) / image.height - static_cast<double>(top);
    for (int64_t x = 0; x < image.width; ++x) {
      const double ix =
          (x + 0.5) * static_cast<double>(rw) / image.width - static_cast<double>(left);
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const double gy = std::clamp(iy * grid_h / H - 0.5, 0.0, static_cast<double>(grid_h - 1));
      const double gx = std::clamp(ix * grid_w / W - 0.5, 0.0, static_cast<double>(grid_w - 1));
      const int64_t y0 = static_cast<int64_t>(gy), x0 = static_cast<int64_t>(gx);
      const int64_t y1 = std::min(y0 + 1, grid_h - 1), x1 = std::min(x0 + 1, grid_w - 1);
      const double fy = gy - y0, fx = gx - x0;
      const double heat = (1 - fy) * ((1 - fx) * cell(y0, x0) + fx * cell(y0, x1)) +
                          fy * ((1 - fx) * cell(y1, x0) + fx * cell(y1, x1));
      double rgb[3];
      hot(heat, rgb);
      const double w = alpha * heat;
      for (int64_t ch = 0; ch < 3; ++ch) {
        uint8_t& p = out.data[static_cast<size_t>((y * image.width + x) * 3 + ch)];
        p = static_cast<uint8_t>(std::lround((1 - w) * p + w * 255.0 * rgb[ch]));
      }
    }
  }
  return out;
}

}  // namespace xai
