// An image model's preprocessing, read from its preprocessor_config.json and done exactly as
// transformers' ViTImageProcessor and CLIPImageProcessor do it: convert to RGB, resize with
// Pillow's filter (to a fixed size, or the shortest edge to a length), center crop, rescale
// (1/255), normalise (mean, std per channel). Pillow's resampling is reproduced to the bit, so the
// pixels match transformers' within float rounding. No LibTorch.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/image/image.h"

namespace xai {

// Pillow's resampling filters, by their numbers (PIL.Image.Resampling).
enum class Resample : int {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5
};
const char* resample_name(Resample r);

// Pillow's Image.resize((width, height), resample) of an 8-bit image without alpha, bit for bit
// (the two-pass fixed-point convolution of Resample.c; nearest as its affine sampling).
Image resize_like_pillow(const Image& image, int64_t width, int64_t height, Resample resample);

struct ImageProcessorConfig {
  bool do_convert_rgb = true;
  bool do_resize = true;
  // size: {height, width} (ViT), or {shortest_edge} (CLIP: the shorter side becomes this length,
  // the longer int(length * long / short)).
  int64_t height = 224, width = 224;
  int64_t shortest_edge = 0;  // > 0: shortest-edge mode
  Resample resample = Resample::kBilinear;
  bool do_center_crop = false;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> mean = {0.5, 0.5, 0.5}, std = {0.5, 0.5, 0.5};
  std::string type = "ViTImageProcessor";  // image_processor_type, for messages and the file
};

class ImageProcessor {
 public:
  ImageProcessor() = default;
  explicit ImageProcessor(ImageProcessorConfig config);
  // A model folder's preprocessor_config.json; throws xai::Error naming the file and the field.
  static ImageProcessor from_file(const std::string& path);
  static ImageProcessor from_json_text(const std::string& text, const std::string& what);
  // preprocessor_config.json for this processor (what `xai train` writes beside a toy ViT).
  std::string to_json() const;

  const ImageProcessorConfig& config() const { return config_; }
  // The (height, width) of the pixels preprocess returns.
  int64_t out_height() const;
  int64_t out_width() const;
  // The size the image is resized to before the crop, for an image of this size.
  std::pair<int64_t, int64_t> resized_size(int64_t height, int64_t width) const;
  // Where the model input lies in the resized image: resized (rh, rw), then the crop's top-left
  // corner and size (the whole resized image without a crop). Throws xai::Error naming `what`
  // when the crop is larger than the resized image.
  struct Geometry {
    int64_t resized_height, resized_width, top, left, height, width;
  };
  Geometry geometry(int64_t height, int64_t width, const std::string& what) const;

  // C x H x W float32 pixels (C = 3), row-major. `what` names the image in errors (a crop larger
  // than the resized image).
  std::vector<float> preprocess(const Image& image, const std::string& what) const;

  // A ground-truth mask (gray or colour, read as luma; same size as its image) on the model's
  // patch grid: values in [0, 1] (mask / 255), one per patch, row-major. Each patch's value is
  // the mask sampled bilinearly (cv2.resize INTER_LINEAR's rule: half-pixel centres, edge
  // clamped, no smoothing) at the patch centre mapped back through the crop and the resize, so
  // without a crop it is exactly cv2.resize(mask / 255, grid), the AtMan image evaluation's
  // ground truth (shared/reference/atman.md 5.2).
  std::vector<float> mask_on_grid(const Image& mask, int64_t image_height, int64_t image_width,
                                  int64_t patch, const std::string& what) const;

  // "ViTImageProcessor: resize 224x224 bilinear, rescale 1/255, normalise mean [..] std [..]".
  std::string describe() const;

 private:
  ImageProcessorConfig config_;
};

}  // namespace xai
