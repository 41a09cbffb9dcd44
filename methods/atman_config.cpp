// AtMan's YAML parameters (kept apart from atman.cpp so the method links without the config code).
#include "framework/config/config.h"
#include "methods/atman.h"

namespace xai {

AtManOptions AtManOptions::from_config(const ConfigNode& node) {
  AtManOptions o;
  o.factor = node.get_double("factor", o.factor);
  o.kappa = node.get_optional_double("kappa", o.kappa);
  o.cos_scaled =
      node.get_choice("neighbour_factor", "cos_scaled", {"cos_scaled", "flat"}) == "cos_scaled";
  o.top_k = node.get_int("top_k", o.top_k);
  o.mode = node.get_choice("mode", "shifted_scores", {"shifted_scores", "log_additive"}) ==
                   "shifted_scores"
               ? SuppressionMode::kShiftedScores
               : SuppressionMode::kLogAdditive;
  o.minimum = node.get_choice("minimum_over", "all_keys", {"all_keys", "valid_keys"}) == "all_keys"
                  ? ShiftMinimum::kAllKeys
                  : ShiftMinimum::kValidKeys;
  for (int64_t l : node.get_int_list("layers", {})) o.layers.push_back(static_cast<int>(l));
  o.batch_size_given = node.has("batch_size");
  o.batch_size = node.get_int("batch_size", o.batch_size);
  o.aggregation = node.get_choice("aggregation", o.aggregation, {"square", "abs", "sum"});
  o.explain_targets = node.get_bool("explain_targets", o.explain_targets);
  o.exclude_bos = node.get_bool("exclude_bos", o.exclude_bos);
  o.exclude_predicting = node.get_bool("exclude_predicting", o.exclude_predicting);
  o.normalize = read_normalization(node, o.normalize);
  o.prefix_reuse = node.get_bool("prefix_reuse", o.prefix_reuse);
  o.head_at_targets = node.get_bool("head_at_targets", o.head_at_targets);
  node.finish();
  return o;
}

}  // namespace xai
