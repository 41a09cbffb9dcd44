#include "methods/chefer.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "methods/attention.h"

namespace xai {
namespace {

// One forward with gradients under `ctl` from layer `first` on (its input requires grad, the
// weights do not): the probabilities it kept, if any, and the target function per target. The
// layers below `first` run without a graph, so no backward goes through them.
struct Graph {
  at::Tensor input;               // (1, T, D) leaf that requires grad: what enters layer `first`
  std::vector<at::Tensor> probs;  // per layer (1, H, T, T) with ctl.keep_probs, else empty
  at::Tensor f;                   // (n) target function at the predicting positions
};

Graph forward_graph(Model& model, const attention_detail::SampleTensors& s, TargetFunction f,
                    const AttentionControl& ctl, int first = 0) {
  Graph g;
  ForwardRequest req;
  g.input = start_with_grad_at(model, s.input, first, req);
  req.logit_positions = s.positions;
  req.vocab_parallel = true;
  ForwardResult r = model.forward(req, ctl);
  g.probs = std::move(r.attn_probs);
  g.f = target_function(r.logits[0], s.targets, f, model.vocab_slice());
  return g;
}

// Abar = mean_h clamp(dA * A, min 0) over the leading rows x cols of grad and probs (1, H, ., .)
// -> (rows, cols) float. Rows past the predicting position cannot reach its row of R.
at::Tensor layer_map(const at::Tensor& grad, const at::Tensor& probs, int64_t rows, int64_t cols) {
  at::Tensor g = grad[0].slice(1, 0, rows).slice(2, 0, cols).to(at::kFloat);
  at::Tensor a = probs[0].detach().slice(1, 0, rows).slice(2, 0, cols).to(at::kFloat);
  return (g * a).clamp_min(0).mean(0);
}

}  // namespace

std::vector<at::Tensor> chefer_layer_maps(Model& model, const Encoded& sample, int64_t target,
                                          TargetFunction f) {
  at::AutoGradMode grad_mode(true);
  const auto s = attention_detail::sample_tensors(model, sample, "chefer");
  AttentionControl keep;
  keep.keep_probs = true;
  Graph g = forward_graph(model, s, f, keep);
  std::vector<at::Tensor> grads = torch::autograd::grad({g.f[target]}, g.probs);
  std::vector<at::Tensor> maps;
  for (size_t l = 0; l < grads.size(); ++l)
    maps.push_back(layer_map(grads[l], g.probs[l], s.T, s.T));
  return maps;
}

at::Tensor chefer_matrix(const std::vector<at::Tensor>& layer_maps, int64_t start_layer) {
  const int64_t T = layer_maps.back().size(0);
  at::Tensor R = at::eye(T, layer_maps.back().options());
  for (size_t l = start_layer; l < layer_maps.size(); ++l) R = R + at::matmul(layer_maps[l], R);
  return R;
}

std::string CheferOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "chefer";
  j["start_layer"] = start_layer;
  j["diagonal"] = diagonal;
  return attention_detail::with_common(j.dump(), common);
}

Chefer::Chefer(CheferOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.diagonal == "keep" || options_.diagonal == "zero", "diagonal",
                   "chefer: diagonal must be keep or zero (got '", options_.diagonal, "')");
}

void Chefer::check_model(const Model& model) const {
  model_layer("chefer", "start_layer", options_.start_layer, model.spec().num_layers, true);
}

Explanation Chefer::explain(Model& model, const Encoded& sample, ExplainContext&) {
  const auto start = std::chrono::steady_clock::now();
  at::AutoGradMode grad_mode(true);
  const auto s = attention_detail::sample_tensors(model, sample, "chefer");
  const int L = static_cast<int>(model.spec().num_layers);
  const int first = model_layer("chefer", "start_layer", options_.start_layer, L, true);

  // One forward with gradients, and no attention map kept. R = prod_l (I + Abar_l), top layer
  // first, so its row p is v <- v + v Abar_l for l = L-1 .. first: the order in which the
  // backward reaches the layers. During each backward the model hands every folded layer's A and
  // dA over per block of query rows (the blockwise path recomputes A there); each block's
  // Abar_l = mean_h clamp(dA * A, min 0) is folded into v at once (v_l = v_{l+1} + v_{l+1} Abar_l
  // summed over the blocks), so only two (1, p + 1) rows are held. Rows past the predicting
  // position cannot reach its row of R: only the leading (p + 1) rows and columns count.
  int64_t rows = 0;  // p + 1 (every position in an encoder)
  int layer_now = -1;
  int layers_seen = 0;
  at::Tensor v_above, v;  // (1, rows): v before the current layer, and with its blocks added
  AttentionControl ctl;
  for (int l = first; l < L; ++l) ctl.layers.push_back(l);
  ctl.probs_grad = [&](int layer, int64_t row0, const at::Tensor& a, const at::Tensor& da) {
    if (layer != layer_now) {  // the backward moved down to the next layer
      XAI_CHECK(layer < layer_now, "chefer: the backward reached layer ", layer, " after layer ",
                layer_now, " (it must go from the top down)");
      layer_now = layer;
      ++layers_seen;
      v_above = v.clone();
    }
    if (row0 >= rows) return;
    const int64_t r = std::min(rows - row0, a.size(2)), c = std::min(rows, a.size(3));
    v.slice(1, 0, c).add_(at::matmul(v_above.slice(1, row0, row0 + r), layer_map(da, a, r, c)));
  };
  const Graph g = forward_graph(model, s, options_.common.target, ctl, first);
  const at::Tensor &input = g.input, &f = g.f;

  at::Tensor per_target = at::zeros({s.n, s.T}, at::kFloat);  // (n, T)
  for (int64_t t = 0; t < s.n; ++t) {
    const int64_t p = sample.logit_position(t);
    rows = visible_positions(model, sample, t);
    v = at::zeros({1, rows}, input.options().dtype(at::kFloat));
    v[0][p] = 1.0f;
    layer_now = L;
    layers_seen = 0;
    torch::autograd::grad({f[t]}, {input}, {}, /*retain_graph=*/t + 1 < s.n);
    XAI_CHECK(layers_seen == L - first, "chefer: the backward reached ", layers_seen, " of the ",
              L - first, " folded layers' attention probabilities");
    at::Tensor row = v[0].to(at::kCPU);
    if (options_.diagonal == "zero") row[p] = 0.0f;
    per_target[t].slice(0, 0, rows).copy_(row);
  }

  Explanation out;
  out.per_target = finish_scores(per_target, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.forward_passes = 1;
  out.cost.sequences = 1;
  out.cost.backward_passes = s.n;
  out.cost.seconds = attention_detail::seconds_since(start);
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed Chefer::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden = 1.09;
  c.mlp = 0.498;
  c.graph = 0.616;
  c.scores = 0.0275;
  c.scores_all = 0.0307;
  c.square = 4.05;
  c.megabytes = 0.95;
  c.heap = 1.9;
  return batched_need(q, c);
}

}  // namespace xai
