#include <cmath>

#include "framework/common/error.h"
#include "framework/model/family.h"
#include "framework/model/tensor_parallel.h"
#include "methods/explainer.h"

namespace xai {

at::Tensor logit_positions(const Encoded& sample) {
  std::vector<int64_t> p(static_cast<size_t>(sample.num_targets()));
  for (int64_t t = 0; t < sample.num_targets(); ++t) p[t] = sample.logit_position(t);
  return at::tensor(p, at::kLong);
}

at::Tensor sample_targets(const Encoded& sample, at::Device device) {
  at::Tensor t = at::tensor(sample.target_ids, at::kLong);
  if (!sample.foil_ids.empty()) {
    XAI_CHECK(sample.foil_ids.size() == sample.target_ids.size(), "internal: ",
              sample.foil_ids.size(), " foil tokens for ", sample.target_ids.size(), " targets");
    t = at::stack({t, at::tensor(sample.foil_ids, at::kLong)}, 1);
  }
  return t.to(device);
}

at::Tensor repeat_targets(const at::Tensor& targets, int64_t times) {
  return targets.dim() == 2 ? targets.repeat({times, 1}) : targets.repeat({times});
}

int64_t visible_positions(const Model& model, const Encoded& sample, int64_t t) {
  return is_causal(model.spec()) ? sample.logit_position(t) + 1 : sample.size();
}

at::Tensor target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets,
                                const VocabSlice& vocab) {
  if (targets.dim() == 2) {  // [target, foil] pairs: a contrast
    return target_cross_entropy(logits, targets.select(1, 0), vocab) -
           target_cross_entropy(logits, targets.select(1, 1), vocab);
  }
  XAI_CHECK(logits.dim() == 2 && targets.dim() == 1 && logits.size(0) == targets.size(0),
            "target_cross_entropy: logits (P, V) and targets (P) disagree");
  if (vocab_part(logits, vocab)) {
    const at::Tensor l = logits.to(at::kDouble);  // this rank's part, reduced over the group
    return vocab_logsumexp(l, vocab) - vocab_target(l, targets, vocab);
  }
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

double memory_bytes(const MemoryQuery& q, const MemoryCoefficients& c, int64_t rows) {
  const ActivationBasis& b = q.basis;
  const double layers = static_cast<double>(b.layers), r = static_cast<double>(rows);
  const double per_layer = c.all_layers ? layers : 1.0;
  double sum = 0;
  // A term: its coefficient, its bytes at coefficient 1, and the size of one of its tensors.
  auto add = [&](double coefficient, double bytes, double tensor) {
    if (coefficient != 0) sum += coefficient * bytes * (tensor < b.heap_threshold ? c.heap : 1.0);
  };
  add(c.hidden, b.hidden * per_layer, b.hidden * r);
  add(c.hidden_once, b.hidden, b.hidden * r);
  add(c.forward, b.forward * per_layer, b.hidden * r);  // mostly D-wide vectors
  add(c.graph, b.graph * per_layer, b.hidden * r);
  add(c.mlp, b.mlp * per_layer, b.mlp * r);
  add(c.qkv, b.qkv * per_layer, b.qkv * r / 3);
  add(c.scores, b.scores, b.scores * r);
  add(c.scores_all, b.scores * layers, b.scores * r);
  add(c.square, b.square, b.square * r);
  // Blocks of query rows over the whole batch of `rows` (once, not per row): the blockwise
  // attention of a backward, and without the fused kernel an inference forward's.
  add(c.block, b.block(rows), b.block(rows));
  if (!b.fused_attention) add(c.unfused_scores, b.inference_block(rows), b.inference_block(rows));
  add(c.kv_all, b.kv * layers, b.kv / 2);
  add(c.logit_rows, b.logit_row * static_cast<double>(q.targets),
      b.logit_row * static_cast<double>(q.targets));
  add(c.megabytes, 1e6, 0);  // small blocks
  return sum;
}

MemoryNeed batched_need(const MemoryQuery& q, const MemoryCoefficients& c, const std::string& knob,
                        int64_t units, bool given) {
  MemoryCoefficients row = c, once;
  row.kv_all = row.logit_rows = row.megabytes = row.block = row.unfused_scores = 0;
  once.kv_all = c.kv_all;
  once.logit_rows = c.logit_rows;
  once.megabytes = c.megabytes;
  once.block = c.block;
  once.unfused_scores = c.unfused_scores;
  once.heap = c.heap;
  const int64_t rows = knob.empty() ? 1 : units;
  MemoryNeed n;
  n.per_unit = memory_bytes(q, row, rows);
  n.fixed = memory_bytes(q, once, rows);
  n.knob = knob;
  n.units = rows;
  n.knob_given = given;
  if (knob.empty()) {
    n.fixed += n.per_unit;
    n.per_unit = 0;
  }
  return n;
}

MemoryNeed Explainer::memory_need(const MemoryQuery& q) const { return inference_forward_need(q); }

MemoryNeed one_backward_need(const MemoryQuery& q) {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md): saliency and
  // input x gradient peak alike; `heap` is resident memory per byte of the tensors under the fast
  // host memory's heap threshold.
  c.hidden = 3.24;
  c.qkv = 0.13;
  c.graph = 0.577;
  c.square = 4.02;
  c.megabytes = 0.985;
  c.heap = 1.94;
  return batched_need(q, c);
}

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

SampleInput sample_input(const Model& model, const Encoded& sample) {
  SampleInput in;
  const at::Device dev = model.device();
  const int64_t T = sample.size();
  in.ids = at::tensor(sample.ids, at::kLong).view({1, T}).to(dev);
  if (!sample.token_types.empty()) {
    XAI_CHECK(static_cast<int64_t>(sample.token_types.size()) == T, "internal: token types for ",
              sample.token_types.size(), " of ", T, " tokens");
    in.types = at::tensor(sample.token_types, at::kLong).view({1, T}).to(dev);
  }
  if (sample.image()) {
    XAI_CHECK(sample.pixel_shape.size() == 3, "internal: an image's pixel shape is (C, H, W)");
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), sample.pixel_shape.begin(), sample.pixel_shape.end());
    in.pixels = at::tensor(*sample.pixels, at::kFloat).view(shape).to(dev);
  }
  return in;
}

void zero_patch(at::Tensor image, const Encoded& sample, int64_t position) {
  const int64_t grid = sample.patch_grid(), P = sample.pixel_shape[1] / grid;
  XAI_CHECK(position >= 1 && position <= grid * grid, "internal: position ", position,
            " is not one of the ", grid * grid, " patches");
  const int64_t patch = position - 1;
  image.narrow(1, (patch / grid) * P, P).narrow(2, (patch % grid) * P, P).zero_();
}

void SampleInput::set(ForwardRequest& req, int64_t batch, int64_t from) const {
  if (pixels.defined()) {
    XAI_CHECK(from == 0, "internal: an image has no token prefix");
    req.pixel_values = pixels.expand({batch, -1, -1, -1});
  } else {
    req.input_ids = ids.slice(1, from).expand({batch, ids.size(1) - from});
  }
  if (types.defined()) req.token_type_ids = types.slice(1, from).expand({batch, -1});
}

void SampleInput::set_types(ForwardRequest& req, int64_t batch) const {
  if (types.defined()) req.token_type_ids = types.expand({batch, types.size(1)});
}

at::Tensor SampleInput::embeddings(Model& model) const {
  return pixels.defined() ? model.embed_pixels(pixels) : model.embed(ids);
}

at::Tensor start_with_grad_at(Model& model, const SampleInput& in, int layer,
                              ForwardRequest& req) {
  at::Tensor input;
  if (layer == 0) {
    input = in.embeddings(model).detach().requires_grad_(true);
    req.inputs_embeds = input;
    in.set_types(req);
    return input;
  }
  ForwardRequest below;
  in.set(below);
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
