// AttAttr's YAML parameters.
#include "framework/config/config.h"
#include "methods/attattr.h"
#include "methods/attention.h"

namespace xai {

AttAttrOptions AttAttrOptions::from_config(const ConfigNode& node) {
  AttAttrOptions o;
  const std::string preset = node.get_choice("preset", "none", {"none", "attattr"});
  if (preset == "attattr") {
    // Hao et al.: m = 20 (left Riemann, alpha = i / m), probability of the predicted label.
    o.common.preset = preset;
    o.steps = 20;
    o.label = "predicted";
    o.common.target = TargetFunction::kProb;
  }
  o.steps = node.get_int("steps", o.steps);
  o.batch_size_given = node.has("batch_size");
  o.batch_size = node.get_int("batch_size", o.batch_size);
  o.token_score = node.get_choice("token_score", o.token_score, {"row", "column_sum"});
  o.label = node.get_choice("label", o.label, {"target", "predicted"});
  for (int64_t l : node.get_int_list("layers", {})) o.layers.push_back(static_cast<int>(l));
  o.tree = node.get_bool("tree", o.tree);
  o.tree_tau = node.get_double("tree_tau", o.tree_tau);
  attention_detail::reject_key(node, "attattr", "embedding_aggregation",
                               "its scores are attributions of attention probabilities");
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
