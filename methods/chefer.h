// Chefer et al. 2021b, "Generic Attention-model Explainability" (what AtMan calls Chefer;
// shared/reference/baselines.md section 3), for decoders: one forward with gradients, then
// per target t one backward of f_t (the target function at
// the predicting position p_t = prompt_len - 1 + t, logit by default) reusing that graph, and
//   R = I;  for l = start..L-1 (bottom to top):  R <- R + Abar_l R,
//   Abar_l = mean_h clamp(dA_l * A_l, min 0)     (dA_l = df_t / dA_l, clamp before the head mean)
// read at row p_t. So R = (I + Abar_{L-1}) ... (I + Abar_start), and its row p_t is propagated
// from the top layer down, v <- v + v Abar_l, as the backward reaches each layer: the model hands
// A_l and dA_l over per block of query rows (AttentionControl::probs_grad) and each block is
// folded into v at once. O(L T^2) work; no attention map or (T, T) matrix is kept. With
// start_layer > 0 the layers below run without a graph and the backward stops at start_layer.
#pragma once

#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct CheferOptions {
  // Layers below are left out of R (the paper and AtMan use all; Chefer's CLIP notebook -1, the
  // last layer only); negative counts from the end.
  int64_t start_layer = 0;
  // The predicting position's own entry R[p, p] >= 1 dominates the row: "keep" (the paper's and
  // AtMan's row as it is) or "zero" (as LXMERT/VisualBERT do).
  std::string diagonal = "keep";
  CommonOptions common;  // target logit by default; presets: atman_paper (logit, all layers)

  static CheferOptions from_config(const ConfigNode& node);  // reads and finish()es the node
  std::string to_json() const;
};

// per_target[t, j] = R_t[p_t, j]: non-negative; R[p, p] >= 1 unless diagonal is zero.
class Chefer final : public Explainer {
 public:
  explicit Chefer(CheferOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void check_model(const Model& model) const override;

 private:
  CheferOptions options_;
};

// For tests, the plain way: Abar_l (T, T) of every layer for target t, from one forward and one
// backward that returns every dA_l; and the full product R = (I + Abar_{L-1}) ... (I + Abar_start).
std::vector<at::Tensor> chefer_layer_maps(Model& model, const Encoded& sample, int64_t target,
                                          TargetFunction f);
at::Tensor chefer_matrix(const std::vector<at::Tensor>& layer_maps, int64_t start_layer);

}  // namespace xai
