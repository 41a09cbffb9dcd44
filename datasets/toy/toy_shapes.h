// The toy image task: one shape (circle, square, triangle or cross) of a random colour, size and
// place on textured noise; the class is the shape, the mask is the shape's pixels. Colour, size
// and place are drawn independently of the class, so only the shape's outline decides. The toy
// ViT in datasets/toy/models/toy_vit is trained on it (`xai train` with task: classify, family
// vit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/image/image.h"
#include "framework/text/encoded.h"

namespace xai::toy {

// The classes, in class-id order: circle, square, triangle, cross.
const std::vector<std::string>& toy_shape_labels();

struct ToyShapeOptions {
  std::string split = "test";  // "train" or "test": independent streams
  int64_t n = 500;             // images to generate
  uint64_t seed = 0;
  int64_t size = 32;  // square images of size x size pixels, RGB
};

// Deterministic on every platform. Samples carry image, mask (255 on the shape), label (the
// shape), image_path "toy_shapes:<split>#<i>" and meta {"shape", "colour"}; ids
// "toy-shape-<split>-00042".
std::vector<Sample> generate_toy_shapes(const ToyShapeOptions& options);

// Sample i of a split alone (what generate_toy_shapes returns at index i).
Sample toy_shape_sample(const ToyShapeOptions& options, int64_t i);

}  // namespace xai::toy
