// Raw attention (shared/reference/baselines.md section 2): the head-mean attention probabilities
// of the row that predicts each target, from the last layer or averaged over all layers. One
// forward without gradients. Also the pieces the other attention explainers (rollout, chefer,
// attattr) share: the sample as tensors and head-mean probabilities reduced during the forward.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct AttentionOptions {
  std::string layers = "last";  // last | mean (over every layer)
  // target_aggregation and normalisation apply; `target` and `embedding_aggregation` are rejected
  // (no gradient, no embeddings). Presets: inseq (layers mean, l1 normalisation, as inseq's
  // "attention").
  CommonOptions common;

  static AttentionOptions from_config(const ConfigNode& node);  // reads and finish()es the node
  std::string to_json() const;
};

// per_target[t, j] = mean_{l in layers} mean_h A_l[h, p_t, j], p_t = prompt_len - 1 + t: a
// probability row (non-negative, sums to 1 over j <= p_t before exclusions and normalisation).
class RawAttention final : public Explainer {
 public:
  explicit RawAttention(AttentionOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  bool runs_layer_major() const override { return true; }  // one forward, layer by layer

 private:
  AttentionOptions options_;
};

namespace attention_detail {

// The sample as the attention explainers use it; checks its shape, naming `method` on error.
struct SampleTensors {
  int64_t T = 0, P = 0, n = 0;
  SampleInput input;     // the ids (1, T) or an image's pixels, with token types
  at::Tensor targets;    // (n) int64 on the model's device, (n, 2) with a contrast (sample_targets)
  at::Tensor positions;  // (n) int64 on the model's device: Encoded::logit_position(t)
};
SampleTensors sample_tensors(const Model& model, const Encoded& sample, const char* method);

// Head-mean attention probabilities mean_h A_l (T, T), float32 on the model's device, of each
// layer in `layers` (entries of other layers stay undefined). One forward without gradients; the
// heads are reduced inside the forward (through AttentionControl::replace_probs, which returns
// the probabilities unchanged), so at most one layer's (H, T, T) exists at a time.
std::vector<at::Tensor> head_mean_probs(Model& model, const SampleInput& input,
                                        bool release_layers,
                                        const std::vector<int>& layers);

// A method's parameters (a JSON object text) followed by the common options' fields.
std::string with_common(const std::string& method_json, const CommonOptions& common);

// Throws when `node` has `key`, which does not apply to `method`, saying why (one line, with the
// file and path).
void reject_key(const ConfigNode& node, const char* method, const std::string& key,
                const char* why);

// Seconds since `start`, for Cost.
double seconds_since(const std::chrono::steady_clock::time_point& start);

}  // namespace attention_detail
}  // namespace xai
