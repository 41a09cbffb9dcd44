#include "methods/attattr.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "framework/common/error.h"
#include "framework/model/tensor_parallel.h"
#include "methods/attention.h"
#include "methods/attribution_tree.h"

namespace xai {

std::string AttAttrOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "attattr";
  j["steps"] = steps;
  j["riemann"] = "left";
  j["batch_size"] = batch_size;
  j["token_score"] = token_score;
  j["label"] = label;
  j["layers"] = layers;
  if (tree) {  // only when on: parameters of runs without the tree stay as they were
    j["tree"] = true;
    j["tree_tau"] = tree_tau;
  }
  return attention_detail::with_common(j.dump(), common);
}

AttAttr::AttAttr(AttAttrOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.steps > 0, "steps", "attattr: steps must be positive (got ",
                   options_.steps, ")");
  XAI_CHECK_OPTION(options_.batch_size > 0, "batch_size",
                   "attattr: batch_size must be positive (got ", options_.batch_size, ")");
  XAI_CHECK_OPTION(options_.token_score == "row" || options_.token_score == "column_sum",
                   "token_score", "attattr: token_score must be row or column_sum (got '",
                   options_.token_score, "')");
  XAI_CHECK_OPTION(options_.label == "target" || options_.label == "predicted", "label",
                   "attattr: label must be target or predicted (got '", options_.label, "')");
  std::vector<int> sorted = options_.layers;
  std::sort(sorted.begin(), sorted.end());
  XAI_CHECK_OPTION(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "layers",
                   "attattr: layers lists a layer twice");
  XAI_CHECK_OPTION(options_.tree_tau > 0 && options_.tree_tau < 1, "tree_tau",
                   "attattr: tree_tau must be in (0, 1) (got ", options_.tree_tau, ")");
}

void AttAttr::check_model(const Model& model) const {
  for (int l : options_.layers)
    model_layer("attattr", "layers entry", l, model.spec().num_layers, false);
}

Explanation AttAttr::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  at::AutoGradMode grad_mode(true);
  const auto s = attention_detail::sample_tensors(model, sample, "attattr");
  const int L = static_cast<int>(model.spec().num_layers);
  const int64_t H = model.spec().num_heads, m = options_.steps;
  std::vector<int> layers = options_.layers;
  if (layers.empty()) {
    for (int l = 0; l < L; ++l) layers.push_back(l);
  }
  check_model(model);
  const int64_t chunk = std::min(options_.batch_size, m);
  const int64_t chunks_per_layer = (m + chunk - 1) / chunk;
  const int64_t total = static_cast<int64_t>(layers.size()) * chunks_per_layer;
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(model.device());
  const bool row = options_.token_score == "row";

  Explanation out;
  // One clean pass without gradients: the residual stream entering every layer, so the integral
  // for layer l runs layers l..L-1 only, and the logits for the predicted label.
  ForwardResult clean;
  {
    at::NoGradGuard no_grad;
    ForwardRequest req;
    s.input.set(req);
    req.logit_positions = s.positions;
    req.return_layer_inputs = true;
    req.vocab_parallel = true;
    clean = model.forward(req);
  }
  out.cost.forward_passes += 1;
  out.cost.sequences += 1;
  // F_t's class: the target token (teacher forcing) or the model's own argmax at p_t (the paper).
  const VocabSlice vocab = model.vocab_slice();
  // With a contrast (s.targets (n, 2)), the predicted class against the foil.
  at::Tensor labels = s.targets;
  if (options_.label == "predicted") {
    labels = vocab_argmax(clean.logits[0], vocab);
    if (s.targets.dim() == 2) labels = at::stack({labels, s.targets.select(1, 1)}, 1);
  }

  at::Tensor scores = at::zeros({s.n, s.T}, fopts);  // (n, T)
  at::Tensor importance = at::zeros({L, H}, fopts);  // (L, H)
  // With the tree: per layer the attribution summed over heads and targets (T, T).
  std::vector<at::Tensor> layer_attr(static_cast<size_t>(L));
  int64_t done = 0;
  for (int l : layers) {
    at::Tensor A;               // (1, H, T, T) layer l's clean probabilities
    std::vector<at::Tensor> G;  // per target (H, T, T): sum over alpha of dF_t/dX
    for (int64_t c0 = 0; c0 < m; c0 += chunk) {
      const int64_t b = std::min(chunk, m - c0);
      at::Tensor alphas =
          (at::arange(c0, c0 + b, fopts) / static_cast<double>(m)).view({b, 1, 1, 1});
      at::Tensor X;  // (b, H, T, T) alpha * A, the leaf the gradients are taken for
      AttentionControl ctl;
      ctl.layers = {l};
      // The probabilities reaching layer l are the clean ones (every layer below is untouched).
      ctl.replace_probs = [&](int, const at::Tensor& probs) {
        A = probs.slice(0, 0, 1).detach();
        X = (alphas.to(probs.scalar_type()) * A).requires_grad_(true);
        return X;
      };
      const at::Tensor& h = clean.layer_inputs[l];  // (1, T, D)
      ForwardRequest req;
      req.start_layer = l;
      req.hidden_states = h.expand({b, s.T, h.size(2)});
      req.logit_positions = s.positions;
      req.vocab_parallel = true;
      ForwardResult r = model.forward(req, ctl);  // logits (b, n, V), this rank's part of V
      at::Tensor f = target_function(r.logits.reshape({b * s.n, r.logits.size(2)}),
                                     repeat_targets(labels, b), options_.common.target, vocab)
                         .view({b, s.n});
      for (int64_t t = static_cast<int64_t>(G.size()); t < s.n; ++t) {
        G.push_back(at::zeros({H, s.T, s.T}, fopts));  // one tensor each (assign would share)
      }
      for (int64_t t = 0; t < s.n; ++t) {
        at::Tensor g = torch::autograd::grad({f.select(1, t).sum()}, {X}, {},
                                             /*retain_graph=*/t + 1 < s.n)[0];
        G[t] += g.sum(0).to(at::kFloat);
      }
      out.cost.forward_passes += 1;
      out.cost.sequences += b;
      out.cost.backward_passes += s.n;
      if (ctx.progress) ctx.progress(++done, total);
    }
    const at::Tensor a = A[0].to(at::kFloat);  // (H, T, T)
    for (int64_t t = 0; t < s.n; ++t) {
      at::Tensor attr = a * G[t] / static_cast<double>(m);  // (H, T, T)
      scores[t] +=
          row ? attr.select(1, sample.logit_position(t)).sum(0) : attr.sum(at::IntArrayRef{0, 1});
      importance[l] += std::get<0>(attr.flatten(1).max(1));
      if (options_.tree) {
        const at::Tensor summed = attr.sum(0).to(at::kCPU, at::kDouble);
        at::Tensor& acc = layer_attr[static_cast<size_t>(l)];
        acc = acc.defined() ? acc + summed : summed;
      }
    }
  }

  out.per_target = finish_scores(scores, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.extras["head_importance"] = importance.to(at::kCPU);
  if (options_.tree) {
    std::vector<std::vector<double>> mats;
    for (int l = 0; l < L; ++l) {
      const at::Tensor a = layer_attr[static_cast<size_t>(l)].defined()
                               ? layer_attr[static_cast<size_t>(l)].contiguous()
                               : at::zeros({s.T, s.T}, at::kDouble);
      mats.emplace_back(a.data_ptr<double>(), a.data_ptr<double>() + a.numel());
    }
    const AttributionTree tree = attribution_tree(mats, s.T, options_.tree_tau);
    out.extras["tree_edges"] = at::tensor(tree_edge_rows(tree), at::kFloat)
                                   .view({static_cast<int64_t>(tree.edges.size()), 4});
    out.extras["tree_top"] = at::full({1}, static_cast<float>(tree.top));
  }
  out.cost.seconds = attention_detail::seconds_since(start);
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed AttAttr::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden = 2.04;
  c.graph = 0.529;
  c.scores = 2.86;
  c.scores_all = 0.0795;
  c.megabytes = 11.3;
  c.heap = 1.88;
  // A batch holds at most the steps there are.
  return batched_need(q, c, "batch_size", std::min(options_.batch_size, options_.steps),
                      options_.batch_size_given);
}

}  // namespace xai
