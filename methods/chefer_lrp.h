// Chefer et al. 2021a, "Transformer Interpretability Beyond Attention Visualization", adapted to
// decoder-only LMs: LRP relevance of every attention map, weighted by its gradient, rolled out
// over the layers with the identity (shared/reference/baselines.md section 4). "Adapted": the
// original rules do not cover RMSNorm, SwiGLU, RoPE or GQA; section 4.3's choices fill the gaps
// (see GradientRules::kLrpAlphaBeta for the rules used).
#pragma once

#include <cstdint>
#include <string>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct CheferLrpOptions {
  // Abar_l + I rows normalised to sum 1 before the product (Chefer's BERT code) or not (ViT code).
  bool row_normalize = false;
  // First layer in the rollout; negative counts from the last (-1 = the last layer only).
  int64_t start_layer = 0;
  // The predicting position's own entry, which starts at 1 from the identity: kept, set to 0
  // (LXMERT, VisualBERT) or set to the row's minimum over the visible positions (Chefer's BERT).
  enum class Diagonal { kKeep, kZero, kMin };
  Diagonal diagonal = Diagonal::kKeep;
  // `target` is the function whose plain gradient weighs the attention relevance (default logit,
  // as Chefer); the LRP pass always starts at relevance 1 on the target's logit.
  CommonOptions common;

  // Reads and finish()es the node. Keys: preset (chefer_vit | chefer_bert), row_normalize,
  // start_layer, diagonal and the CommonOptions keys except embedding_aggregation.
  static CheferLrpOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// One forward over the input embeddings under GradientRules::kLrpAlphaBeta (z+ for linear layers
// and the LM head, identity for norms, activations and softmax, both attention matmuls R/2 to
// each operand, gated products R/2 each, residual adds renormalised per branch), whose graph
// serves two backward passes per target t (predicting position p), switched by a GradientSwitch:
//   R(A_l)  = A_l * dA_l of the relevance backward, started at 1 / logit (relevance 1 at the
//   target) Abar_l  = mean_h clamp(grad(A_l) * R(A_l), min 0), grad(A_l) = d f_t / dA_l, plain
//   backward per_target[t, :] = row p of (Abar_L + I) ... (Abar_start + I), by row propagation.
// Cost: 1 forward, 2 backward passes per target (one gradient, one relevance), as section 4.3.
// The layers below start_layer run without a graph (chefer_bert's -1: one layer with a graph).
// Non-negative; per_target[t, p] >= 1 unless `diagonal` says otherwise.
class CheferLrp final : public Explainer {
 public:
  explicit CheferLrp(CheferLrpOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void check_model(const Model& model) const override;
  const CheferLrpOptions& options() const { return options_; }

 private:
  CheferLrpOptions options_;
};

}  // namespace xai
