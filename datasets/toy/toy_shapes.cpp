// See toy_shapes.h. Each image has its own RNG stream (seed, split, index), so any sample can be
// made alone and the splits never share a stream.
#include "datasets/toy/toy_shapes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "datasets/toy/toy_rng.h"
#include "framework/common/error.h"

namespace xai::toy {
namespace {

// Inside the shape, in coordinates relative to its centre and half-extent (|u|, |v| <= 1).
bool inside(int shape, double u, double v) {
  switch (shape) {
    case 0:
      return u * u + v * v <= 1.0;  // circle
    case 1:
      return std::max(std::fabs(u), std::fabs(v)) <= 0.82;  // square (about the disc's area)
    case 2: {                                               // triangle, apex up
      if (v < -1.0 || v > 0.8) return false;
      return std::fabs(u) <= (v + 1.0) / 1.8;
    }
    default:  // cross
      return (std::fabs(u) <= 0.3 && std::fabs(v) <= 1.0) ||
             (std::fabs(v) <= 0.3 && std::fabs(u) <= 1.0);
  }
}

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

const std::vector<std::string>& toy_shape_labels() {
  static const std::vector<std::string> labels = {"circle", "square", "triangle", "cross"};
  return labels;
}

Sample toy_shape_sample(const ToyShapeOptions& o, int64_t i) {
  XAI_CHECK(o.split == "train" || o.split == "test", "toy_shapes: split must be train or test");
  XAI_CHECK(o.size >= 16 && o.size <= 1024, "toy_shapes: size must be 16 to 1024 pixels");
  Rng rng(fnv1a(o.split, o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i) + 1));
  const int64_t S = o.size;
  const int shape = rng.below(4);

  // Textured noise: a coarse 4x4 field of dark colours, bilinearly spread, plus pixel noise.
  double coarse[5][5][3];
  for (auto& row : coarse)
    for (auto& cell : row)
      for (double& c : cell) c = 20 + rng.unit() * 90;
  const double r = S * (0.18 + 0.14 * rng.unit());  // half-extent
  const double cx = r + rng.unit() * (S - 2 * r), cy = r + rng.unit() * (S - 2 * r);
  double colour[3];
  for (double& c : colour) c = 150 + rng.unit() * 105;

  auto image = std::make_shared<Image>();
  auto mask = std::make_shared<Image>();
  image->width = image->height = mask->width = mask->height = S;
  image->channels = 3;
  mask->channels = 1;
  image->data.resize(static_cast<size_t>(S * S * 3));
  mask->data.resize(static_cast<size_t>(S * S));
  for (int64_t y = 0; y < S; ++y) {
    for (int64_t x = 0; x < S; ++x) {
      const double gx = (x + 0.5) * 4.0 / S, gy = (y + 0.5) * 4.0 / S;
      const int ix = std::min(3, static_cast<int>(gx)), iy = std::min(3, static_cast<int>(gy));
      const double fx = gx - ix, fy = gy - iy;
      const bool in = inside(shape, (x + 0.5 - cx) / r, (y + 0.5 - cy) / r);
      mask->data[static_cast<size_t>(y * S + x)] = in ? 255 : 0;
      for (int c = 0; c < 3; ++c) {
        const double bg = (1 - fy) * ((1 - fx) * coarse[iy][ix][c] + fx * coarse[iy][ix + 1][c]) +
                          fy * ((1 - fx) * coarse[iy + 1][ix][c] + fx * coarse[iy + 1][ix + 1][c]);
        const double noise = (rng.unit() - 0.5) * 50;
        image->data[static_cast<size_t>((y * S + x) * 3 + c)] =
            clamp8((in ? colour[c] : bg) + noise);
      }
    }
  }

  Sample s;
  char id[64];
  std::snprintf(id, sizeof(id), "toy-shape-%s-%05lld", o.split.c_str(), static_cast<long long>(i));
  s.id = id;
  s.label = toy_shape_labels()[static_cast<size_t>(shape)];
  s.image = std::move(image);
  s.mask = std::move(mask);
  s.image_path = str_cat("toy_shapes:", o.split, "#", i);
  s.meta["shape"] = s.label;
  s.meta["colour"] =
      str_cat(std::lround(colour[0]), ",", std::lround(colour[1]), ",", std::lround(colour[2]));
  return s;
}

std::vector<Sample> generate_toy_shapes(const ToyShapeOptions& o) {
  std::vector<Sample> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(o.n, 0)));
  for (int64_t i = 0; i < o.n; ++i) out.push_back(toy_shape_sample(o, i));
  return out;
}

}  // namespace xai::toy
