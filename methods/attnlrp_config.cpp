// AttnLRP's YAML parameters (kept apart from attnlrp.cpp so the method links without the config
// code).
#include "framework/config/config.h"
#include "methods/attnlrp.h"

namespace xai {

AttnLrpOptions AttnLrpOptions::from_config(const ConfigNode& node) {
  AttnLrpOptions o;
  // Presets first, then the individual keys on top.
  const std::string preset = node.get_choice("preset", "none", {"none", "lxt"});
  if (preset == "lxt") {
    // LXT's quickstart: its model's patch map, the logit, signed sum over d, R / max|R|.
    o.variant = Variant::kAuto;
    o.common.target = TargetFunction::kLogit;
    o.common.embedding = EmbeddingAggregation::kSum;
    o.common.normalize = Normalization::kMaxAbs;
  }
  if (preset != "none") o.common.preset = preset;
  const std::string v = node.get_choice("variant",
                                        o.variant == Variant::kAuto      ? "auto"
                                        : o.variant == Variant::kAttnLrp ? "attn_lrp"
                                                                         : "cp_lrp",
                                        {"auto", "attn_lrp", "cp_lrp"});
  o.variant = v == "auto" ? Variant::kAuto : v == "attn_lrp" ? Variant::kAttnLrp : Variant::kCpLrp;
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
