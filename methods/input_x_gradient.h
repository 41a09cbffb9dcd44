// Input x gradient on token embeddings: E * df/dE, reduced over the embedding dimension (captum's
// InputXGradient; shared/reference/baselines.md section 6). One forward, one backward per target.
#pragma once

#include <string>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct InputXGradientOptions {
  // Defaults: target logit, embedding_aggregation sum (signed), normalize none, target_aggregation
  // abs. Preset atman_paper: logit and abs_sum (AtMan's IxG baseline).
  CommonOptions common;

  // Reads and finish()es the node. Keys: preset (none | atman_paper | captum_llm | inseq), then
  // the CommonOptions keys.
  static InputXGradientOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// per_target[t, j] = aggregate_d (E * df_t/dE)[j, d] on the layer-0 token embeddings E (without
// GPT-2's position embeddings). With sum (default) signed: positive = token j's embedding pushes
// f_t up (first-order share of f_t); abs_sum and l2 unsigned. Positions after the predicting
// position get 0, as do exclusions; then normalisation.
class InputXGradient final : public Explainer {
 public:
  explicit InputXGradient(InputXGradientOptions options) : options_(std::move(options)) {}
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  const InputXGradientOptions& options() const { return options_; }

 private:
  InputXGradientOptions options_;
};

}  // namespace xai
