// Raw attention's YAML parameters (kept apart from attention.cpp, as for every method).
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/attention.h"

namespace xai {

void attention_detail::reject_key(const ConfigNode& node, const char* method,
                                  const std::string& key, const char* why) {
  if (!node.has(key)) return;
  throw Error(str_cat(node.where(key), "does not apply to ", method, " (", why, ")"));
}

AttentionOptions AttentionOptions::from_config(const ConfigNode& node) {
  AttentionOptions o;
  const std::string preset = node.get_choice("preset", "none", {"none", "inseq"});
  if (preset == "inseq") {
    // inseq's "attention" method: mean over layers, then over heads, then L1 normalisation.
    o.common.preset = preset;
    o.layers = "mean";
    o.common.normalize = Normalization::kL1;
  }
  o.layers = node.get_choice("layers", o.layers, {"last", "mean"});
  attention_detail::reject_key(node, "attention", "target", "it takes no gradient");
  attention_detail::reject_key(node, "attention", "embedding_aggregation",
                               "its scores are attention probabilities");
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
