// Chefer 2021b's YAML parameters.
#include "framework/config/config.h"
#include "methods/attention.h"
#include "methods/chefer.h"

namespace xai {

CheferOptions CheferOptions::from_config(const ConfigNode& node) {
  CheferOptions o;
  const std::string preset = node.get_choice("preset", "none", {"none", "atman_paper"});
  if (preset == "atman_paper") {
    // The AtMan repository's Chefer baseline: logit of the target, every layer, the row as is.
    o.common.preset = preset;
    o.common.target = TargetFunction::kLogit;
    o.start_layer = 0;
    o.diagonal = "keep";
  }
  o.start_layer = node.get_int("start_layer", o.start_layer);
  o.diagonal = node.get_choice("diagonal", o.diagonal, {"keep", "zero"});
  attention_detail::reject_key(node, "chefer", "embedding_aggregation",
                               "its scores come from the attention rollout");
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
