#include "methods/attnlrp.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <chrono>

#include "framework/common/error.h"
#include "framework/model/family.h"

namespace xai {

GradientRules attnlrp_rules(AttnLrpOptions::Variant variant, const ModelSpec& spec) {
  switch (variant) {
    case AttnLrpOptions::Variant::kAttnLrp:
      return GradientRules::kAttnLrp;
    case AttnLrpOptions::Variant::kCpLrp:
      return GradientRules::kCpLrp;
    case AttnLrpOptions::Variant::kAuto:
      return family_row(spec.family).cp_lrp_by_default ? GradientRules::kCpLrp
                                                       : GradientRules::kAttnLrp;
  }
  throw Error("internal: unknown AttnLRP variant");
}

std::string AttnLrpOptions::to_json() const {
  const char* v = variant == Variant::kAuto      ? "auto"
                  : variant == Variant::kAttnLrp ? "attn_lrp"
                                                 : "cp_lrp";
  nlohmann::ordered_json j;
  j["method"] = "attnlrp";
  j["variant"] = v;
  return "{" + j.dump().substr(1, j.dump().size() - 2) + "," + common.json_fields() + "}";
}

Explanation AttnLrp::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t T = sample.size(), P = sample.prompt_len, n = sample.num_targets();
  XAI_CHECK(T > 0 && n > 0 && P >= 1 && P - 1 + n == T, "attnlrp: malformed sample (T = ", T,
            ", prompt_len = ", P, ", targets = ", n, ")");
  // The written-out attention and the rules need autograd, whatever the caller's mode.
  at::AutoGradMode grad_mode(true);

  at::Tensor targets = sample_targets(sample, at::kCPU);  // (n), or (n, 2) with a contrast
  const SampleInput in = sample_input(model, sample);
  at::Tensor e = in.embeddings(model).detach().requires_grad_(true);  // (1, T, D)
  ForwardRequest req;
  req.inputs_embeds = e;
  in.set_types(req);
  req.logit_positions = logit_positions(sample);  // the LM head runs only there
  req.rules = attnlrp_rules(options_.variant, model.spec());
  req.vocab_parallel = true;
  ForwardResult out = model.forward(req);
  at::Tensor f = target_function(out.logits[0], targets, options_.common.target,
                                 model.vocab_slice());  // (n)

  at::Tensor input = e.detach().to(at::kFloat);  // (1, T, D)
  at::Tensor scores = at::zeros({n, T}, at::kFloat);
  for (int64_t t = 0; t < n; ++t) {
    // One backward per target through the same graph; autograd::grad never touches weights.
    at::Tensor g = torch::autograd::grad({f[t]}, {e}, {}, /*retain_graph=*/t + 1 < n)[0];
    scores[t] =
        aggregate_embedding(input[0] * g[0].to(at::kFloat), options_.common.embedding).to(at::kCPU);
    if (ctx.progress) ctx.progress(t + 1, n);
  }

  Explanation result;
  result.per_target = finish_scores(scores, sample, options_.common);
  result.relevance = aggregate_targets(result.per_target, options_.common.target_aggregation);
  result.cost.forward_passes = 1;
  result.cost.sequences = 1;
  result.cost.backward_passes = n;
  result.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed AttnLrp::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden_once = 10.8;
  c.hidden = 9.11;
  c.qkv = 0.0392;
  c.square = 2.79;
  c.megabytes = 1.11;
  c.heap = 2.08;
  return batched_need(q, c);
}

}  // namespace xai
