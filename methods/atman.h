// AtMan (Deiseroth et al., NeurIPS 2023): relevance of input token i for target token t is how
// much suppressing i's attention (and, optionally, that of tokens whose layer-0 embeddings are
// cosine-similar to it) raises the cross-entropy of t. Forward passes only: memory stays at
// inference level. Paper-exact by default (shared/reference/atman.md sections 1-3 and 7).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct AtManOptions {
  // The multiplier on a suppressed key (paper: f = 0.9 suppression, multiplier 1 - f = 0.1).
  double factor = 0.1;
  // Correlated suppression: tokens j with cos(e_i, e_j) >= kappa on layer-0 embeddings are
  // suppressed with i. nullopt = single-token suppression.
  std::optional<double> kappa = 0.7;
  // Neighbour multiplier 1 - (1 - factor) * cos (reference default) or the flat `factor`.
  bool cos_scaled = true;
  int64_t top_k = 0;  // at most this many neighbours, most similar first; 0 = no cap
  SuppressionMode mode = SuppressionMode::kShiftedScores;
  ShiftMinimum minimum = ShiftMinimum::kAllKeys;
  std::vector<int> layers;             // empty = every layer
  int64_t batch_size = 8;              // perturbations per forward call
  bool batch_size_given = false;  // set in the config (the memory planner then keeps it)
  std::string aggregation = "square";  // square | abs | sum over targets
  // Also perturb earlier target tokens (they explain later ones). Target positions are outside
  // every sample's explained set, so the runner and `explain` store and show no score there:
  // off by default (no forward passes spent on them); on for callers that read per_target.
  bool explain_targets = false;
  // Scoring, as every baseline applies it (methods/options.h): zero a leading BOS / the
  // predicting position, then normalise each target's row; before `aggregation`.
  bool exclude_bos = false;
  bool exclude_predicting = false;
  Normalization normalize = Normalization::kNone;
  // Fast path switches; each gives the same numbers as the plain path (tested).
  bool prefix_reuse = true;     // recompute only positions >= the first suppressed one
  bool head_at_targets = true;  // LM head only at the positions predicting targets

  static AtManOptions from_config(const ConfigNode& node);  // reads and finish()es the node
  std::string to_json() const;
};

// per_target[t, i] = CE_t(i suppressed) - CE_t(clean): positive when i matters for target t
// (the reference code stores the opposite sign; all its consumers square or take abs).
// relevance = aggregation over targets; positions that were not perturbed score 0.
class AtMan final : public Explainer {
 public:
  explicit AtMan(AtManOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void set_batch_units(int64_t units) override { options_.batch_size = units; }
  bool splits_perturbations() const override { return true; }
  bool runs_layer_major() const override { return true; }
  bool perturbs_segments() const override { return true; }
  void check_model(const Model& model) const override;
  std::string settings() const override;
  std::string score_sign() const override;
  const AtManOptions& options() const { return options_; }

  // One perturbation: key columns and their multipliers.
  struct Suppression {
    int64_t position = 0;         // the explained token i (a segment's first)
    std::vector<int64_t> scored;  // the positions that get its score: i, or the segment's
    std::vector<int64_t> keys;    // the scored positions first, then their neighbours ascending
    std::vector<float> factors;   // multiplier per key
    int64_t first_key() const;    // the earliest suppressed position
  };
  // The suppressions for every position to explain, given layer-0 embeddings (T, D); with
  // Encoded::segments one per segment, all its tokens suppressed together and each neighbour
  // (kappa) at the strongest of the factors its tokens give it.
  std::vector<Suppression> plan(const at::Tensor& embeddings, const Encoded& sample) const;

 private:
  // The batches b with b % shares == share; per_target holds their rows, exact 0 elsewhere;
  // relevance and seconds are left to explain().
  Explanation explain_share(Model& model, const Encoded& sample, ExplainContext& ctx, int share,
                            int shares);
  AtManOptions options_;
};

}  // namespace xai
