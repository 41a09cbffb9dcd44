// How one model reads a sample: its tokenizer (text models) or its image processor and patch
// geometry (image models). The pipeline, the CLI and the planner encode every sample through it,
// so a text sample meeting an image model (or the reverse) is one clear error, recorded as a
// failed sample like any other bad sample.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framework/image/image_sample.h"
#include "framework/text/encoded.h"
#include "framework/text/tokenizer.h"

namespace xai {

class SampleEncoder {
 public:
  explicit SampleEncoder(Tokenizer tokenizer);
  SampleEncoder(ImageProcessor processor, ImageGeometry geometry);

  bool images() const { return processor_.has_value(); }
  // The text model's tokenizer; throws xai::Error for an image model.
  const Tokenizer& tokenizer() const;
  const ImageProcessor& image_processor() const;  // throws for a text model
  const ImageGeometry& geometry() const { return geometry_; }

  // encode_sample for text, encode_image_sample for images. max_tokens as in encode_sample.
  Encoded encode(const Sample& sample, int64_t max_tokens,
                 const std::vector<std::string>& labels) const;

 private:
  std::optional<Tokenizer> tokenizer_;
  std::optional<ImageProcessor> processor_;
  ImageGeometry geometry_;
};

}  // namespace xai
