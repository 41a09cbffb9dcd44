// outputs.overlays: an image sample's explanation as a heatmap PNG over its image.
#pragma once

#include <string>
#include <vector>

#include "framework/text/encoded.h"
#include "framework/text/sample_encoder.h"

namespace xai {

// <out_dir>/overlays/<model>/<explainer>/<sample id>.png ('/' in names becomes '_').
std::string overlay_path(const std::string& out_dir, const std::string& model,
                         const std::string& explainer, const std::string& sample_id);

// Writes the overlay of `relevance` (T, NaN where not explained; the patches follow [CLS]) for an
// image sample; returns the path. Throws xai::Error naming the file when it cannot write.
std::string write_overlay(const std::string& path, const Sample& sample, const Encoded& enc,
                          const std::vector<float>& relevance, const SampleEncoder& encoder);

}  // namespace xai
