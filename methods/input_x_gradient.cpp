#include "methods/input_x_gradient.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "methods/saliency.h"

namespace xai {

std::string InputXGradientOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "input_x_gradient";
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

Explanation InputXGradient::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  check_gradient_sample(sample, "input_x_gradient");
  Explanation out;
  at::Tensor scores = at::zeros({sample.num_targets(), sample.size()}, at::kFloat);  // (n, T)
  std::vector<at::Tensor> pixel_maps;
  embedding_gradients(
      model, sample, options_.common.target,
      [&](int64_t t, const at::Tensor& e, const at::Tensor& g) {
        scores[t] = aggregate_embedding(e * g, options_.common.embedding).to(at::kCPU);
      },
      out.cost, ctx,
      [&](int64_t, const at::Tensor& x, const at::Tensor& g) {
        pixel_maps.push_back((x.to(at::kFloat) * g).sum(0).to(at::kCPU));  // (H, W), signed
      });
  if (!pixel_maps.empty()) out.extras[kPixelRelevance] = at::stack(pixel_maps);
  out.per_target = finish_scores(scores, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed InputXGradient::memory_need(const MemoryQuery& q) const {
  return one_backward_need(q);  // the same tensors as saliency: x . grad is one more (T, D)
}

}  // namespace xai
