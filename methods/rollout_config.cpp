// Attention rollout's YAML parameters.
#include "framework/config/config.h"
#include "methods/attention.h"
#include "methods/rollout.h"

namespace xai {

RolloutOptions RolloutOptions::from_config(const ConfigNode& node) {
  RolloutOptions o;
  const std::string preset = node.get_choice("preset", "none", {"none", "atman_paper"});
  if (preset == "atman_paper") {
    o.common.preset = preset;  // the defaults: every layer, head mean, residual weight 0.5
    o.start_layer = 0;
  }
  o.start_layer = node.get_int("start_layer", o.start_layer);
  attention_detail::reject_key(node, "rollout", "target", "it takes no gradient");
  attention_detail::reject_key(node, "rollout", "embedding_aggregation",
                               "its scores come from the attention rollout");
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
