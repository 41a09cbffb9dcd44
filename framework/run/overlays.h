// Per-sample drawings of xai run: outputs.overlays (an image sample's explanation as a heatmap
// PNG over its image) and outputs.trees (AttAttr's attribution tree as an SVG).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/io/results.h"
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

// <out_dir>/trees/<model>/<explainer>/<sample id>.svg.
std::string tree_path(const std::string& out_dir, const std::string& model,
                      const std::string& explainer, const std::string& sample_id);

// Draws the attribution tree of an explanation's extras "tree_edges" (E, 4) and "tree_top" (1)
// over the sample's tokens as the SVG `path`, and writes it as JSON beside it (`path` with .json);
// false (nothing written) when it has none.
bool write_tree(const std::string& path, const std::map<std::string, ExtraArray>& extras,
                const Encoded& enc, int64_t layers, const std::string& title);

}  // namespace xai
