// Attention rollout (Abnar & Zuidema 2020; shared/reference/baselines.md section 2): the head-mean
// attention of each layer mixed with the identity for the residual, Ahat_l = 0.5 Abar_l + 0.5 I,
// multiplied over the layers, J = Ahat_{L-1} ... Ahat_start; the row of J at each predicting
// position. One forward without gradients; the row is propagated down the layers (vector times
// matrix, O(L T^2)) instead of forming J (O(L T^3)).
#pragma once

#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct RolloutOptions {
  // First layer in the product (Chefer's ViT scripts use 1); negative counts from the end.
  int64_t start_layer = 0;
  // target_aggregation and normalisation apply; the target function is unused (no gradient).
  // Presets: atman_paper (the AtMan repository's rollout: every layer, head mean, 0.5 I).
  CommonOptions common;

  static RolloutOptions from_config(const ConfigNode& node);  // reads and finish()es the node
  std::string to_json() const;
};

// per_target[t, j] = J[p_t, j], p_t = prompt_len - 1 + t: non-negative, each row of J sums to 1.
class Rollout final : public Explainer {
 public:
  explicit Rollout(RolloutOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  bool runs_layer_major() const override { return true; }  // one forward, layer by layer
  void check_model(const Model& model) const override;

 private:
  RolloutOptions options_;
};

// The rollout from head-mean attentions Abar_l (T, T) (layers < start may be undefined):
// the full matrix J = Ahat_{L-1} ... Ahat_start (T, T), and its rows at `positions` (n) computed
// by row propagation, v <- v Ahat_l from the top layer down (n, T). Equal up to rounding.
at::Tensor rollout_matrix(const std::vector<at::Tensor>& head_means, int64_t start_layer);
at::Tensor rollout_rows(const std::vector<at::Tensor>& head_means, int64_t start_layer,
                        const at::Tensor& positions);

}  // namespace xai
