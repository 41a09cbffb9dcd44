// AttAttr, Hao et al. 2021 "Self-Attention Attribution" (shared/reference/baselines.md section 5),
// for decoders: per layer l, integrated gradients over that layer's attention probabilities from
// a zero baseline. F_t is the target function of target t with layer l's probabilities replaced
// by alpha A_l (every other layer as it is), and with a left Riemann sum of m steps
//   Attr_l = A_l * sum_{i=0}^{m-1} dF_t/dX |_{X = (i/m) A_l} / m        (H, T, T) per target.
// One clean forward without gradients records the residual stream entering every layer; the
// integral for layer l then runs layers l..L-1 only, from that cached input. The alpha points run
// `batch_size` at a time as the batch of one forward; each forward serves every target (one
// backward per target on its graph). About L * m / 2 full-model sequences, by far the most
// expensive baseline: Cost says how many forwards (partial ones included) and rows.
#pragma once

#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct AttAttrOptions {
  int64_t steps = 20;             // m, Riemann points alpha_i = i / m, i = 0..m-1
  int64_t batch_size = 10;        // alpha points per forward
  bool batch_size_given = false;  // set in the config (the memory planner then keeps it)
  // "row": s_j = sum_l sum_h Attr_l[h, p_t, j], the predicting row (comparable to Chefer and
  // rollout); "column_sum": s_j = sum_l sum_h sum_i Attr_l[h, i, j], all attribution out of j.
  std::string token_score = "row";
  std::vector<int> layers;  // layers to attribute; empty = every layer
  // The class F_t is taken for: "target", the sample's target token t (teacher forcing, as every
  // other method), or "predicted", the model's own argmax at p_t (the paper's "probability of
  // the predicted label").
  std::string label = "target";
  // The attribution tree (methods/attribution_tree.h) from the head-summed attributions summed
  // over the targets: extras "tree_edges" (E, 4: layer, from, to, score) and "tree_top" (1).
  bool tree = false;
  double tree_tau = 0.4;  // the paper's threshold on the max-normalised attribution
  // Target logit by default; preset attattr: the paper's m = 20, left Riemann, probability of the
  // predicted label.
  CommonOptions common;

  static AttAttrOptions from_config(const ConfigNode& node);  // reads and finish()es the node
  std::string to_json() const;
};

// per_target[t, j] = s_j for target t: signed (mostly positive). Also extras["head_importance"]
// (L, H) = sum_t max_{i,j} Attr_l[h, i, j] (the paper's head importance, summed over the
// sample's targets as the paper sums it over examples; 0 for layers not attributed); with `tree`,
// extras "tree_edges" and "tree_top".
class AttAttr final : public Explainer {
 public:
  explicit AttAttr(AttAttrOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void set_batch_units(int64_t units) override { options_.batch_size = units; }
  void check_model(const Model& model) const override;

 private:
  AttAttrOptions options_;
};

}  // namespace xai
