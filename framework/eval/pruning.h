// AttAttr's head-pruning experiment (Hao et al. 2021, section 4): rank the attention heads by
// their importance I_h = E_x[max_ij Attr_h(A)[i, j]] (the mean over a run's samples of attattr's
// per-sample head_importance extra), prune them least important first, and measure the accuracy
// after each step; beside it the same curve for heads ranked by their attention,
// E_x[max_ij A_h[i, j]], the paper's baseline. Two ways to prune, as the paper shows: globally
// (the k least important heads of the whole model) and per layer (the k least important heads of
// every layer, k * L in all). A head is pruned by zeroing its attention probabilities (its output
// is then 0), as transformers' head_mask does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/model/model.h"
#include "framework/text/encoded.h"

namespace xai {

struct PruningSettings {
  bool enabled = false;
  std::string explainer = "attattr";  // whose head_importance extra ranks the heads
  int64_t steps = 20;                 // points on the curve (at most one per head)
};

struct PruningCurves {
  int64_t layers = 0, heads = 0;
  std::vector<double> importance;  // (L * H) row-major: the explainer's mean head importance
  std::vector<double> attention;   // (L * H): mean over samples of the head's largest attention
  // Global: at each point the `pruned[i]` least important heads of the model are pruned.
  std::vector<int64_t> pruned;                                        // 0 .. L * H
  std::vector<double> accuracy_by_importance, accuracy_by_attention;  // at each point
  // Per layer: at each point the `pruned_per_layer[i]` least important heads of every layer.
  std::vector<int64_t> pruned_per_layer;  // 0 .. H
  std::vector<double> per_layer_by_importance, per_layer_by_attention;
  int64_t samples = 0, forward_passes = 0;  // over every rank
};

// Sums the values element-wise over the ranks that share the work (in place); empty: one rank.
using SumOverRanks = std::function<void(std::vector<double>& values)>;

// `importance` (L * H) of a model of `layers` x `heads`; this rank's share of the samples those
// importances came from (classification or next-token targets: a sample is right when every
// target is the argmax), which `model` (null only when the share is empty) runs. With `sum`,
// every rank that shares the samples calls this (the same `importance`) and gets the curves of
// all of them. Throws xai::Error when the sizes do not match the model.
PruningCurves pruning_curves(Model* model, const std::vector<Encoded>& samples,
                             const std::vector<double>& importance, int64_t layers, int64_t heads,
                             int64_t steps, const SumOverRanks& sum = nullptr);

// The curves as SVG line charts (accuracy against heads pruned, global and per layer), for a
// report or a browser.
std::string pruning_svg(const PruningCurves& c, const std::string& title);

// The logits at the sample's logit positions (1, n, V) with the heads where `keep` (L, H) is 0
// pruned; `keep` undefined: none.
at::Tensor pruned_logits(Model& model, const Encoded& sample, const at::Tensor& keep);

// The order heads are pruned in: ascending score, ties by (layer, head).
std::vector<int64_t> pruning_order(const std::vector<double>& scores);

// The keep mask (L, H) with the `k` first heads of `order` (pruning_order of L * H scores) pruned
// (global), or in every layer the `k` heads of lowest score pruned (per layer).
at::Tensor global_keep_mask(const std::vector<int64_t>& order, int64_t k, int64_t layers,
                            int64_t heads);
at::Tensor per_layer_keep_mask(const std::vector<double>& scores, int64_t k, int64_t layers,
                               int64_t heads);

}  // namespace xai
