// Saliency (Simonyan et al. 2014) on token embeddings: the gradient of the explained target
// function with respect to the layer-0 token embeddings, reduced over the embedding dimension
// (shared/reference/baselines.md section 6). Also holds what the gradient baselines share: the
// one-forward, one-backward-per-target gradient pass and the parity presets' common values.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

// ---- shared by saliency, input_x_gradient, integrated_gradients and random ----------------------

// The parity presets of baselines.md section 12 that the gradient baselines take, and the values
// they share: atman_paper (logit), captum_llm (logprob, signed sum over d), inseq (prob, L2 over d,
// L1-normalised per target). "none" changes nothing. Records the name in common.preset.
void apply_gradient_preset(const std::string& preset, CommonOptions& common);
// The preset names the YAML key `preset` accepts ("none" first).
const std::vector<std::string>& gradient_presets();

// Throws xai::Error naming the method unless the sample is prompt + targets[:-1] with >= 1 target.
void check_gradient_sample(const Encoded& sample, const char* method);

// True when position 0 is a BOS-like special token: a token with no bytes (finish_scores's test
// for exclude_bos).
bool leading_bos(const Encoded& sample);

// One forward with gradients on the layer-0 token embeddings E (1, T, D) (no weight gets a
// gradient), the LM head only at the predicting positions, then one backward per target through
// the same graph. `visit(t, E, g)` receives E (T, D) and g = df_t/dE (T, D), both float32 on the
// model's device. Adds 1 forward, 1 sequence and n backward passes to `cost`.
// For an image sample, `visit_pixels(t, x, gx)` (when given) also receives its pixels x (C, H, W)
// and gx = df_t/dx from the same backward: the patch projection's transpose applied to g.
void embedding_gradients(
    Model& model, const Encoded& sample, TargetFunction f,
    const std::function<void(int64_t t, const at::Tensor& embeddings, const at::Tensor& gradient)>&
        visit,
    Cost& cost, ExplainContext& ctx,
    const std::function<void(int64_t t, const at::Tensor& pixels, const at::Tensor& gradient)>&
        visit_pixels = nullptr);

// The extra "pixel_relevance" of a gradient method on an image: (n_targets, H, W), each target's
// per-pixel map summed over the channels (IxG: x * gx; saliency: |gx|).
constexpr const char* kPixelRelevance = "pixel_relevance";

// ---- saliency
// -------------------------------------------------------------------------------------

struct SaliencyOptions {
  // Defaults: target logit, embedding_aggregation l2 (the gradient norm, unsigned), normalize none,
  // target_aggregation abs.
  CommonOptions common;
  SaliencyOptions();

  // Reads and finish()es the node. Keys: preset (none | atman_paper | captum_llm | inseq), then
  // the CommonOptions keys.
  static SaliencyOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// per_target[t, j] = aggregate_d (df_t/dE)[j, d]: with l2 (default) and abs_sum unsigned, with sum
// signed (positive = increasing E[j] along all ones raises f_t). Positions after the predicting
// position get 0 (they cannot influence f_t), as do exclusions; then normalisation.
class Saliency final : public Explainer {
 public:
  explicit Saliency(SaliencyOptions options) : options_(std::move(options)) {}
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  const SaliencyOptions& options() const { return options_; }

 private:
  SaliencyOptions options_;
};

}  // namespace xai
