#include "methods/rollout.h"

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "methods/attention.h"

namespace xai {

at::Tensor rollout_matrix(const std::vector<at::Tensor>& head_means, int64_t start_layer) {
  const int64_t L = static_cast<int64_t>(head_means.size());
  const int64_t T = head_means.back().size(0);
  at::Tensor eye = at::eye(T, head_means.back().options());
  at::Tensor J = eye;  // (T, T)
  for (int64_t l = start_layer; l < L; ++l) J = at::matmul(0.5 * head_means[l] + 0.5 * eye, J);
  return J;
}

at::Tensor rollout_rows(const std::vector<at::Tensor>& head_means, int64_t start_layer,
                        const at::Tensor& positions) {
  const int64_t L = static_cast<int64_t>(head_means.size());
  const int64_t T = head_means.back().size(0);
  // v = e_p (n, T); v Ahat = 0.5 v Abar + 0.5 v, from the top layer down.
  at::Tensor v = at::eye(T, head_means.back().options()).index_select(0, positions);
  for (int64_t l = L - 1; l >= start_layer; --l) v = 0.5 * at::matmul(v, head_means[l]) + 0.5 * v;
  return v;
}

std::string RolloutOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "rollout";
  j["start_layer"] = start_layer;
  return attention_detail::with_common(j.dump(), common);
}

Rollout::Rollout(RolloutOptions options) : options_(std::move(options)) {}

void Rollout::check_model(const Model& model) const {
  model_layer("rollout", "start_layer", options_.start_layer, model.spec().num_layers, true);
}

Explanation Rollout::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = attention_detail::sample_tensors(model, sample, "rollout");
  const int L = static_cast<int>(model.spec().num_layers);
  const int first = model_layer("rollout", "start_layer", options_.start_layer, L, true);
  std::vector<int> layers;
  for (int l = first; l < L; ++l) layers.push_back(l);
  std::vector<at::Tensor> means =
      attention_detail::head_mean_probs(model, s.input, ctx.layer_major, layers);

  Explanation out;
  at::Tensor rows = rollout_rows(means, first, s.positions);  // (n, T)
  out.per_target = finish_scores(rows, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.forward_passes = 1;
  out.cost.sequences = 1;
  out.cost.seconds = attention_detail::seconds_since(start);
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed Rollout::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden_once = 9.29;
  c.scores = 1.5;
  c.scores_all = 0.11;
  c.square = 4.72;
  c.kv_all = 0.35;
  c.megabytes = 0.259;
  c.heap = 1.45;
  return batched_need(q, c);
}

}  // namespace xai
