// AttnLRP (Achtibat et al., ICML 2024) in LXT's efficient mode: one forward under relevance rules
// written as modified gradients (norms with their scale detached, identity rule for activations,
// uniform rule for gated products, q/k/v gradients divided by 4/4/2), one backward per target,
// relevance = input embeddings x gradient (shared/reference/baselines.md section 7.2).
#pragma once

#include <string>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct AttnLrpOptions {
  // attn_lrp: the full AttnLRP rules (GradientRules::kAttnLrp). cp_lrp: no relevance through the
  // attention scores nor the MLP gate (GradientRules::kCpLrp). auto: cp_lrp for GPT-2 (its logits
  // are mostly negative and the softmax bias flips short-prompt heatmaps; LXT's GPT-2 module calls
  // CP-LRP its default for that reason), attn_lrp for every other family.
  enum class Variant { kAuto, kAttnLrp, kCpLrp };
  Variant variant = Variant::kAuto;
  // Defaults: target logit, embedding_aggregation sum (signed), normalize none.
  CommonOptions common;

  // Reads and finish()es the node. Keys: preset (lxt), variant, and the CommonOptions keys.
  static AttnLrpOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// The rule set a variant resolves to on a model.
GradientRules attnlrp_rules(AttnLrpOptions::Variant variant, const ModelSpec& spec);

// per_target[t, j] = aggregate_d (E * df_t/dE)[j, d] on the layer-0 token embeddings E (without
// GPT-2's position embeddings, which absorb their own share), f_t the target function of target t
// at its predicting position. Signed: positive = evidence for the target. Relevance is
// approximately conservative: sum_j R_j = f_t minus what biases, position embeddings and the
// softmax's Taylor bias absorb (exactly f_t for cp_lrp on a model without biases).
class AttnLrp final : public Explainer {
 public:
  explicit AttnLrp(AttnLrpOptions options) : options_(std::move(options)) {}
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  const AttnLrpOptions& options() const { return options_; }

 private:
  AttnLrpOptions options_;
};

}  // namespace xai
