// Integrated gradients (Sundararajan et al. 2017) on the token embeddings of every position (prompt
// and earlier targets), as captum's IntegratedGradients computes it: the path from a baseline E0 to
// E, captum's quadratures, the interpolation points evaluated in chunks, and the convergence delta
// (shared/reference/baselines.md section 6). On an image the path runs through the pixels instead
// (from the zero image, captum's default baseline on a vision model's input): the patch scores
// come from the same points, and the extra "pixel_relevance" holds the pixel attributions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct IntegratedGradientsOptions {
  // captum's approximation_methods: nodes a_k and weights w_k on [0, 1].
  //   gausslegendre      a = 0.5 (1 + x_i), w = 0.5 w_i (Legendre nodes and weights; n >= 1)
  //   riemann_left       a = linspace(0, 1 - 1/n, n), w = 1/n
  //   riemann_right      a = linspace(1/n, 1, n), w = 1/n
  //   riemann_middle     a = linspace(1/2n, 1 - 1/2n, n), w = 1/n
  //   riemann_trapezoid  a = linspace(0, 1, n), w = 1/n halved at both ends (captum's weights,
  //                      which sum to 1 - 1/n; n >= 2 for every Riemann rule)
  enum class Quadrature {
    kGaussLegendre,
    kRiemannLeft,
    kRiemannRight,
    kRiemannMiddle,
    kRiemannTrapezoid
  };
  // zero: E0 = 0 (captum's default, AtMan's baselines). token: E0 = embed(baseline_token_id) at
  // every position (captum LLM: id 0). unk: the same with the tokenizer's UNK id (PAD when it has
  // none, inseq), as the sample carries it (Encoded::unk_id), unless baseline_token_id names one.
  // auto: zero where the model's norms have a bias (LayerNorm), else token (RMSNorm: E = 0 is a
  // singular point there and IG from it does not converge). On an image only zero (and auto)
  // apply, and zero is the zero image in the model's normalised pixel space (the processor's mean
  // colour), not zero embeddings: E0 = embed_pixels(0), so [CLS] and the positions stay put.
  enum class Baseline { kAuto, kZero, kToken, kUnk };

  int64_t steps = 50;
  Quadrature quadrature = Quadrature::kGaussLegendre;
  Baseline baseline = Baseline::kAuto;
  std::optional<int64_t> baseline_token_id;  // token (and auto's): default 0; unk: the tokenizer's
  // Token baselines: a leading BOS (position 0 with no bytes) keeps its own embedding in E0, as
  // captum LLM's skip_tokens and inseq's special tokens do; its attribution is then exactly 0.
  bool baseline_keep_bos = true;
  // Interpolation points per forward call. 4: on GPT-2-small at T = 256 (2 threads) 4 was both
  // faster than 10 or 16 (52 s vs 74 s for 20 steps) and a third of the memory (784 vs 2281 MB).
  int64_t batch_size = 4;
  bool batch_size_given = false;  // set in the config (the memory planner then keeps it)
  // A sample whose |convergence delta| exceeds this fraction of |f(E) - f(E0)| for some target
  // is flagged (extras convergence_flag; the run's summary counts them): its attributions do not
  // add up to the change they explain (too few steps, or a singular baseline).
  double delta_tolerance = 0.1;
  // Defaults: target logit, embedding_aggregation sum (signed), normalize none, target_aggregation
  // abs.
  CommonOptions common;

  // Reads and finish()es the node. Keys: preset (none | atman_paper | captum_llm | inseq), steps,
  // quadrature, baseline, baseline_token_id, baseline_keep_bos, batch_size, delta_tolerance, and
  // the CommonOptions
  // keys. Presets: atman_paper = 10 steps, zero baseline, logit; captum_llm = token id 0, logprob,
  // sum; inseq = 50 steps Gauss-Legendre, unk baseline, prob, L2 + L1 normalisation.
  static IntegratedGradientsOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// Nodes and weights of the quadrature with n points (see Quadrature).
std::pair<std::vector<double>, std::vector<double>> ig_quadrature(
    IntegratedGradientsOptions::Quadrature quadrature, int64_t n);

// For target t (f_t its target function at its predicting position):
//   A_t = (E - E0) * sum_k w_k df_t/dE (E0 + a_k (E - E0))          (T, D)
//   per_target[t, j] = aggregate_d A_t[j, d]  (sum: signed, positive = evidence for the target)
//   extras["convergence_delta"][t] = sum_{j,d} A_t - (f_t(E) - f_t(E0))  (captum's delta; it is
//   about the sums over d before any reduction, and over all positions)
//   extras["convergence_relative"][t] = |delta_t| / |f_t(E) - f_t(E0)|
//   extras["convergence_flag"] = (1,) 1 when some target's relative delta > delta_tolerance
//   extras["baseline_token"] = (1,) the token id E0 was built from, -1 for the zero baseline (what
//   `auto` resolved to on this model)
//   extras["pixel_relevance"] = (n, H, W) on an image: sum_c (x - x0) * sum_k w_k df_t/dx
//   (x0 = 0), whose sum over the pixels is also f_t(E) - f_t(E0) up to the delta
// Positions after the predicting position get 0 (their gradient is 0), as do exclusions; then
// normalisation. Cost: ceil(steps / batch_size) forward calls of batch_size rows with n backward
// passes each, plus one forward of (E, E0) for the delta; memory: one chunk's graph plus the
// (n, T, D) float32 gradient sums.
class IntegratedGradients final : public Explainer {
 public:
  explicit IntegratedGradients(IntegratedGradientsOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void set_batch_units(int64_t units) override { options_.batch_size = units; }
  void check_model(const Model& model) const override;
  std::string settings() const override;
  std::string score_sign() const override;
  const IntegratedGradientsOptions& options() const { return options_; }

 private:
  IntegratedGradientsOptions options_;
};

}  // namespace xai
