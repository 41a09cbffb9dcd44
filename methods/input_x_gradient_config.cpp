// Input x gradient's YAML parameters (kept apart so the method links without the config code).
#include "framework/config/config.h"
#include "methods/input_x_gradient.h"
#include "methods/saliency.h"

namespace xai {

InputXGradientOptions InputXGradientOptions::from_config(const ConfigNode& node) {
  InputXGradientOptions o;
  // The preset first, then the individual keys on top.
  const std::string preset = node.get_choice("preset", "none", gradient_presets());
  apply_gradient_preset(preset, o.common);
  if (preset == "atman_paper") o.common.embedding = EmbeddingAggregation::kAbsSum;
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
