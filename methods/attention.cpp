#include "methods/attention.h"

#include <nlohmann/json.hpp>

#include "framework/common/error.h"

namespace xai {
namespace attention_detail {

SampleTensors sample_tensors(const Model& model, const Encoded& sample, const char* method) {
  SampleTensors s;
  s.T = sample.size();
  s.P = sample.prompt_len;
  s.n = sample.num_targets();
  XAI_CHECK(s.T > 0 && s.n > 0 && s.P >= 1 && s.P - 1 + s.n == s.T, method,
            ": malformed sample (T = ", s.T, ", prompt_len = ", s.P, ", targets = ", s.n,
            "; expected T = prompt_len + targets - 1)");
  const at::Device dev = model.device();
  s.input = sample_input(model, sample);
  s.targets = sample_targets(sample, dev);
  s.positions = logit_positions(sample).to(dev);
  return s;
}

std::vector<at::Tensor> head_mean_probs(Model& model, const SampleInput& input,
                                        bool release_layers,
                                        const std::vector<int>& layers) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> means(model.spec().num_layers);
  AttentionControl ctl;
  ctl.layers = layers;
  ctl.replace_probs = [&means](int layer, const at::Tensor& probs) {
    means[layer] = probs[0].to(at::kFloat).mean(0);  // (H, T, T) -> (T, T)
    return probs;
  };
  ForwardRequest req;
  input.set(req);
  // The logits are not needed; the LM head runs at one position only.
  req.logit_positions = at::full({1}, input.ids.size(1) - 1, input.ids.options());
  req.release_layers = release_layers;
  model.forward(req, ctl);
  return means;
}

std::string with_common(const std::string& method_json, const CommonOptions& common) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(method_json);
  const nlohmann::ordered_json c = nlohmann::ordered_json::parse("{" + common.json_fields() + "}");
  for (const auto& item : c.items()) j[item.key()] = item.value();
  return j.dump();
}

double seconds_since(const std::chrono::steady_clock::time_point& start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace attention_detail

std::string AttentionOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "attention";
  j["layers"] = layers;
  return attention_detail::with_common(j.dump(), common);
}

RawAttention::RawAttention(AttentionOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.layers == "last" || options_.layers == "mean", "layers",
                   "attention: layers must be last or mean (got '", options_.layers, "')");
}

Explanation RawAttention::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = attention_detail::sample_tensors(model, sample, "attention");
  const int L = static_cast<int>(model.spec().num_layers);
  std::vector<int> layers;
  if (options_.layers == "last") {
    layers.push_back(L - 1);
  } else {
    for (int l = 0; l < L; ++l) layers.push_back(l);
  }
  std::vector<at::Tensor> means =
      attention_detail::head_mean_probs(model, s.input, ctx.layer_major, layers);
  at::Tensor a = means[layers[0]];  // (T, T)
  for (size_t i = 1; i < layers.size(); ++i) a = a + means[layers[i]];
  a = a / static_cast<double>(layers.size());

  Explanation out;
  out.per_target = finish_scores(a.index_select(0, s.positions), sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.forward_passes = 1;
  out.cost.sequences = 1;
  out.cost.seconds = attention_detail::seconds_since(start);
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed RawAttention::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden_once = 9.26;
  c.scores = 1.97;
  c.square = 1.77;
  c.kv_all = 0.309;
  c.megabytes = 0.296;
  c.heap = 1.42;
  // Without the fused kernel (bfloat16, a GPU) the other layers' blocks of scores: fitted on
  // bfloat16 weights (gptj 4x256, T = 512 and 1024: 25 and 75 MB measured).
  c.unfused_scores = 1.2;
  return batched_need(q, c);
}

}  // namespace xai
