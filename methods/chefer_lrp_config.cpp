// Chefer 2021a's YAML parameters (kept apart from chefer_lrp.cpp so the method links without the
// config code).
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/chefer_lrp.h"

namespace xai {

CheferLrpOptions CheferLrpOptions::from_config(const ConfigNode& node) {
  CheferLrpOptions o;
  // Presets first (baselines.md sections 4.2 and 10), then the individual keys on top.
  const std::string preset =
      node.get_choice("preset", "none", {"none", "chefer_vit", "chefer_bert"});
  if (preset == "chefer_vit") {
    // ViT_LRP.py generate_LRP: no row normalisation, every layer.
    o.row_normalize = false;
    o.start_layer = 0;
  } else if (preset == "chefer_bert") {
    // BERT ExplanationGenerator.generate_LRP as the ERASER pipeline runs it: row-normalised,
    // start_layer 11 of 12 (the last layer only), own entry set to the row minimum.
    o.row_normalize = true;
    o.start_layer = -1;
    o.diagonal = Diagonal::kMin;
  }
  if (preset != "none") o.common.preset = preset;
  o.row_normalize = node.get_bool("row_normalize", o.row_normalize);
  o.start_layer = node.get_int("start_layer", o.start_layer);
  const char* diag = o.diagonal == Diagonal::kKeep   ? "keep"
                     : o.diagonal == Diagonal::kZero ? "zero"
                                                     : "min";
  const std::string d = node.get_choice("diagonal", diag, {"keep", "zero", "min"});
  o.diagonal = d == "keep" ? Diagonal::kKeep : d == "zero" ? Diagonal::kZero : Diagonal::kMin;
  if (node.has("embedding_aggregation")) {
    throw Error(str_cat(node.where("embedding_aggregation"),
                        "does not apply to chefer_lrp (its scores come from the attention "
                        "rollout, not from embedding-sized attributions)"));
  }
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
