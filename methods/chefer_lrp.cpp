#include "methods/chefer_lrp.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <vector>

#include "framework/common/error.h"

namespace xai {

CheferLrp::CheferLrp(CheferLrpOptions options) : options_(std::move(options)) {}

std::string CheferLrpOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "chefer_lrp";
  j["row_normalize"] = row_normalize;
  j["start_layer"] = start_layer;
  j["diagonal"] = diagonal == Diagonal::kKeep   ? "keep"
                  : diagonal == Diagonal::kZero ? "zero"
                                                : "min";
  const std::string s = j.dump();
  return "{" + s.substr(1, s.size() - 2) + "," + common.json_fields() + "}";
}

void CheferLrp::check_model(const Model& model) const {
  model_layer("chefer_lrp", "start_layer", options_.start_layer, model.spec().num_layers, true);
}

Explanation CheferLrp::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t T = sample.size(), P = sample.prompt_len, n = sample.num_targets();
  XAI_CHECK(T > 0 && n > 0 && P >= 1 && P - 1 + n == T, "chefer_lrp: malformed sample (T = ", T,
            ", prompt_len = ", P, ", targets = ", n, ")");
  const int64_t L = model.spec().num_layers;
  const int64_t start = model_layer("chefer_lrp", "start_layer", options_.start_layer, L, true);
  at::AutoGradMode grad_mode(true);  // kept attention maps need the written-out path

  at::Tensor targets = sample_targets(sample, at::kCPU);  // (n), or (n, 2) with a contrast
  // The input requires grad only so that the attention maps join the graph; no gradient is read.
  // Both backward passes end at layer `start`'s maps: the layers below it run without a graph.
  ForwardRequest req;
  start_with_grad_at(model, sample_input(model, sample), static_cast<int>(start), req);
  AttentionControl keep;
  keep.keep_probs = true;
  req.logit_positions = logit_positions(sample);
  // One forward whose graph serves both backward passes: the switch picks, per backward, the
  // relevance rules (z+ / identity / halves / renormalised residuals) or the plain gradient.
  GradientSwitch rules_on;
  req.rules = GradientRules::kLrpAlphaBeta;
  req.rule_switch = &rules_on;
  req.vocab_parallel = true;
  ForwardResult pass = model.forward(req, keep);
  XAI_CHECK(static_cast<int64_t>(pass.attn_probs.size()) == L,
            "chefer_lrp: the model returned no attention maps");

  const std::vector<at::Tensor> probs(pass.attn_probs.begin() + start,
                                      pass.attn_probs.end());  // (1, H, T, T) each
  at::Tensor logit =
      target_function(pass.logits[0], targets, TargetFunction::kLogit, model.vocab_slice());
  at::Tensor f = target_function(pass.logits[0], targets, options_.common.target,
                                 model.vocab_slice());  // (n)
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(model.device());
  at::Tensor eye = at::eye(T, fopts);

  at::Tensor scores = at::zeros({n, T}, at::kFloat);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = sample.logit_position(t);
    const bool retain = t + 1 < n;
    const double y = logit[t].item<double>();
    if (y == 0.0) {
      throw Error(str_cat("chefer_lrp: the logit of target ", t,
                          " is exactly 0, so the LRP pass cannot start at relevance 1"));
    }
    // Relevance 1 at the target: gradient 1 / logit, so logit * gradient = 1.
    rules_on.set_relevance(true, /*again=*/retain);  // the z+ scales serve the next target too
    const auto rel =
        torch::autograd::grad({logit[t]}, probs, {at::full({}, 1.0 / y, logit.options())},
                              /*retain_graph=*/true);
    rules_on.set_relevance(false);
    const auto grads = torch::autograd::grad({f[t]}, probs, {}, retain);
    at::Tensor v = at::zeros({T}, fopts);  // row p of the product, propagated top-down
    v[p] = 1.0f;
    for (int64_t l = L - 1 - start; l >= 0; --l) {
      // fp32 accumulation whatever the model's dtype.
      at::Tensor r = probs[l].detach()[0].to(at::kFloat) * rel[l][0].to(at::kFloat);  // R(A_l)
      at::Tensor a = (grads[l][0].to(at::kFloat) * r).clamp_min(0).mean(0);  // (T, T) Abar_l
      at::Tensor m = a + eye;
      if (options_.row_normalize) m = m / m.sum(-1, true);
      v = at::matmul(v, m);  // (T)
    }
    if (options_.diagonal == CheferLrpOptions::Diagonal::kZero) {
      v[p] = 0.0f;
    } else if (options_.diagonal == CheferLrpOptions::Diagonal::kMin) {
      v[p] = v.slice(0, 0, visible_positions(model, sample, t)).min();
    }
    scores[t] = v.to(at::kCPU);
    if (ctx.progress) ctx.progress(t + 1, n);
  }

  Explanation result;
  result.per_target = finish_scores(scores, sample, options_.common);
  result.relevance = aggregate_targets(result.per_target, options_.common.target_aggregation);
  result.cost.forward_passes = 1;
  result.cost.sequences = 1;
  result.cost.backward_passes = 2 * n;
  result.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed CheferLrp::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.qkv = 5.01;
  c.graph = 1.41;
  c.scores = 2.25;
  c.scores_all = 3.22;
  c.square = 2.03;
  c.kv_all = 1.07;
  c.megabytes = 0.374;
  c.heap = 1.5;
  return batched_need(q, c);
}

}  // namespace xai
