#include <cmath>

#include "framework/common/error.h"
#include "methods/explainer.h"

namespace xai {

at::Tensor target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  XAI_CHECK(logits.dim() == 2 && targets.dim() == 1 && logits.size(0) == targets.size(0),
            "target_cross_entropy: logits (P, V) and targets (P) disagree");
  at::Tensor lp = at::log_softmax(logits.to(at::kDouble), -1);             // (P, V)
  return -lp.gather(1, targets.to(lp.device()).view({-1, 1})).view({-1});  // (P)
}

namespace {
std::string count_non_finite(const at::Tensor& t, const std::string& what) {
  if (!t.defined() || t.numel() == 0) return "";
  const at::Tensor d = t.detach();
  if (!d.is_floating_point() || at::isfinite(d).all().item<bool>()) return "";
  const int64_t nan = at::isnan(d).sum().item<int64_t>();
  const int64_t inf = at::isinf(d).sum().item<int64_t>();
  return str_cat(what, " holds ", nan, " NaN and ", inf, " infinite of ", d.numel(), " values");
}
}  // namespace

std::string non_finite_reason(const Explanation& ex, const at::Tensor& explained) {
  const auto at_explained = [&](const at::Tensor& t) {
    if (!explained.defined() || !t.defined() || t.numel() == 0) return t;
    return t.detach().masked_select(explained.to(t.device()).expand_as(t));
  };
  std::string why = count_non_finite(at_explained(ex.relevance), "the relevance");
  if (why.empty()) why = count_non_finite(at_explained(ex.per_target), "the per-target scores");
  for (const auto& [name, t] : ex.extras) {
    if (why.empty()) why = count_non_finite(t, "the extra '" + name + "'");
  }
  return why.empty() ? why
                     : "non-finite scores: " + why +
                           " (the model's numbers overflow on this sample; nothing was stored)";
}

double memory_bytes(const MemoryQuery& q, const MemoryCoefficients& c) {
  const ActivationBasis& b = q.basis;
  const double layers = static_cast<double>(b.layers);
  const double per_layer = c.hidden * b.hidden + c.mlp * b.mlp + c.qkv * b.qkv +
                           c.forward * b.forward + c.graph * b.graph;
  return per_layer * (c.all_layers ? layers : 1.0) + c.scores * b.scores + c.square * b.square +
         (b.fused_attention ? 0.0 : c.unfused_scores * b.inference_block(1)) +
         c.scores_all * b.scores * layers + c.kv_all * b.kv * layers +
         c.logit_rows * b.logit_row * static_cast<double>(q.targets) + c.megabytes * 1e6;
}

MemoryNeed batched_need(const MemoryQuery& q, const MemoryCoefficients& c,
                        const std::string& knob, int64_t units, bool given) {
  MemoryCoefficients row = c, once;
  row.kv_all = row.logit_rows = row.megabytes = row.block = row.unfused_scores = 0;
  once.kv_all = c.kv_all;
  once.logit_rows = c.logit_rows;
  once.megabytes = c.megabytes;
  MemoryNeed n;
  n.per_unit = memory_bytes(q, row);
  n.fixed = memory_bytes(q, once) + c.block * q.basis.block(knob.empty() ? 1 : units);
  if (!q.basis.fused_attention) {  // one block of query rows over the whole batch
    n.fixed += c.unfused_scores * q.basis.inference_block(knob.empty() ? 1 : units);
  }
  n.knob = knob;
  n.units = knob.empty() ? 1 : units;
  n.knob_given = given;
  if (knob.empty()) {
    n.fixed += n.per_unit;
    n.per_unit = 0;
  }
  return n;
}

MemoryNeed Explainer::memory_need(const MemoryQuery& q) const { return inference_forward_need(q); }

MemoryNeed inference_forward_need(const MemoryQuery& q) {
  MemoryCoefficients c;  // a plain inference forward: one layer's work at a time
  c.forward = 1.2;
  // One block of attention scores, softmax and probabilities without the fused kernel: fitted
  // with bfloat16 weights (the attention method, gptj 4x256, T = 512 and 1024).
  c.unfused_scores = 5.5;
  c.logit_rows = 2;
  MemoryNeed n;
  n.fixed = memory_bytes(q, c);
  return n;
}

std::string keep_explained(Explanation& ex, const Encoded& sample) {
  const auto T = static_cast<int64_t>(sample.explain_mask.size());
  XAI_CHECK(ex.relevance.defined() && ex.relevance.dim() == 1 && ex.relevance.size(0) == T,
            "internal: the relevance has shape ", ex.relevance.sizes(), ", the sample ", T,
            " positions");
  XAI_CHECK(ex.per_target.defined() && ex.per_target.dim() == 2 && ex.per_target.size(1) == T,
            "internal: the per-target scores have shape ", ex.per_target.sizes(), ", the sample ",
            T, " positions");
  const at::Tensor explained =
      at::tensor(std::vector<uint8_t>(sample.explain_mask.begin(), sample.explain_mask.end()))
          .to(at::kBool);
  std::string why = non_finite_reason(ex, explained);
  if (!why.empty()) return why;
  const at::Tensor none = explained.logical_not();
  ex.relevance = ex.relevance.detach().masked_fill(none.to(ex.relevance.device()), NAN);
  ex.per_target = ex.per_target.detach().masked_fill(
      none.to(ex.per_target.device()).expand_as(ex.per_target), NAN);
  return "";
}

at::Tensor aggregate_targets(const at::Tensor& per_target, const std::string& how) {
  if (how == "square") return per_target.pow(2).sum(0);
  if (how == "abs") return per_target.abs().sum(0);
  if (how == "sum") return per_target.sum(0);
  throw Error("aggregation '" + how + "' is not one of square, abs, sum");
}

int model_layer(const char* method, const char* key, int64_t layer, int64_t num_layers,
                bool from_end) {
  const int64_t l = from_end && layer < 0 ? num_layers + layer : layer;
  if (l < 0 || l >= num_layers) {
    throw Error(str_cat(method, ": ", key, " ", layer, " is not a layer of this model (it has ",
                        num_layers, " layers; HINT: use 0..", num_layers - 1,
                        from_end ? ", or -1 for the last" : "", ")"));
  }
  return static_cast<int>(l);
}

at::Tensor start_with_grad_at(Model& model, const at::Tensor& ids, int layer, ForwardRequest& req) {
  at::Tensor input;
  if (layer == 0) {
    input = model.embed(ids).detach().requires_grad_(true);
    req.inputs_embeds = input;
    return input;
  }
  ForwardRequest below;
  below.input_ids = ids;
  below.end_layer = layer;
  {
    at::NoGradGuard no_grad;
    input = model.forward(below).hidden_states;
  }
  input.requires_grad_(true);
  req.start_layer = layer;
  req.hidden_states = input;
  return input;
}

}  // namespace xai
