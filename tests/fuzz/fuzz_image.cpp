// libFuzzer target: image decoding (PNG through libpng, JPEG through libjpeg-turbo, with their
// longjmp error paths) and what is done with a decoded image: conversion to RGB and gray,
// preprocessing through a center-cropping bicubic processor and a bilinear one, and the mask on a
// patch grid. A bug: a crash or sanitizer report, an exception other than xai::Error, a decoded
// image whose buffer does not match its size, or preprocessing output of the wrong size or not
// finite.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "framework/image/image.h"
#include "framework/image/image_processor.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const xai::ImageProcessor& cropping() {
  static const xai::ImageProcessor p = xai::ImageProcessor::from_json_text(
      R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 12},
          "crop_size": {"height": 8, "width": 8}})",
      "fuzz");
  return p;
}

const xai::ImageProcessor& square() {
  static const xai::ImageProcessor p =
      xai::ImageProcessor::from_json_text(R"({"size": {"height": 6, "width": 10}})", "fuzz");
  return p;
}

void check_pixels(const std::vector<float>& px, size_t want) {
  XAI_FUZZ_CHECK(px.size() == want, "preprocess gave ", px.size(), " values, not ", want);
  for (float v : px) XAI_FUZZ_CHECK(std::isfinite(v), "a pixel is not finite: ", v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xai::fuzz::expect_only_xai_errors("decode_image", [&] {
    const xai::Image im = xai::decode_image(data, size, "fuzz.img");
    XAI_FUZZ_CHECK(im.width > 0 && im.height > 0 && im.channels >= 1 && im.channels <= 4,
                   "decoded ", im.width, "x", im.height, "x", im.channels);
    XAI_FUZZ_CHECK(im.data.size() == static_cast<size_t>(im.width * im.height * im.channels),
                   "buffer of ", im.data.size(), " bytes for ", im.width, "x", im.height, "x",
                   im.channels);
    const xai::Image rgb = xai::to_rgb(im), gray = xai::to_gray(im);
    XAI_FUZZ_CHECK(rgb.data.size() == static_cast<size_t>(im.width * im.height * 3), "to_rgb size");
    XAI_FUZZ_CHECK(gray.data.size() == static_cast<size_t>(im.width * im.height), "to_gray size");
    // Large decoded images are only resized when small enough to keep each input fast.
    if (im.width * im.height > 512 * 512) return;
    check_pixels(square().preprocess(im, "fuzz.img"), 3 * 6 * 10);
    check_pixels(cropping().preprocess(im, "fuzz.img"), 3 * 8 * 8);
    const std::vector<float> grid = square().mask_on_grid(im, im.height, im.width, 2, "fuzz.img");
    XAI_FUZZ_CHECK(grid.size() == 15, "mask grid of ", grid.size());
    for (float v : grid) XAI_FUZZ_CHECK(v >= 0 && v <= 1, "mask value ", v);
  });
  return 0;
}
