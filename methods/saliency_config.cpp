// Saliency's YAML parameters (kept apart from saliency.cpp so the method links without the config
// code).
#include "framework/config/config.h"
#include "methods/saliency.h"

namespace xai {

SaliencyOptions SaliencyOptions::from_config(const ConfigNode& node) {
  SaliencyOptions o;
  // The preset first, then the individual keys on top.
  apply_gradient_preset(node.get_choice("preset", "none", gradient_presets()), o.common);
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
