// The random baseline's YAML parameters (kept apart so the method links without the config code).
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/random.h"
#include "methods/saliency.h"

namespace xai {

RandomOptions RandomOptions::from_config(const ConfigNode& node) {
  RandomOptions o;
  apply_gradient_preset(node.get_choice("preset", "none", gradient_presets()), o.common);
  const int64_t seed = node.get_int("seed", 0);
  XAI_CHECK(seed >= 0, node.where("seed"), "must be >= 0 (got ", seed, ")");
  o.seed = static_cast<uint64_t>(seed);
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
