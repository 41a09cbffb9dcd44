#include "methods/chefer.h"

#include <torch/csrc/autograd/autograd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "methods/attention.h"

namespace xai {
namespace {

// One forward with gradients: the attention probabilities of every layer stay in the graph (the
// input embeddings require grad, the weights do not), and the target function per target.
struct Graph {
  at::Tensor emb;                 // (1, T, D) leaf that requires grad
  std::vector<at::Tensor> probs;  // per layer (1, H, T, T)
  at::Tensor f;                   // (n) target function at the predicting positions
};

Graph forward_with_probs(Model& model, const attention_detail::SampleTensors& s, TargetFunction f) {
  Graph g;
  g.emb = model.embed(s.ids).detach().requires_grad_(true);
  AttentionControl ctl;
  ctl.keep_probs = true;
  ForwardRequest req;
  req.inputs_embeds = g.emb;
  req.logit_positions = s.positions;
  ForwardResult r = model.forward(req, ctl);
  g.probs = std::move(r.attn_probs);
  g.f = target_function(r.logits[0], s.targets, f);
  return g;
}

// Abar = mean_h clamp(dA * A, min 0) over the leading rows x rows block (rows past the predicting
// position cannot reach its row of R). grad, probs (1, H, T, T) -> (rows, rows) float.
at::Tensor layer_map(const at::Tensor& grad, const at::Tensor& probs, int64_t rows) {
  at::Tensor g = grad[0].slice(1, 0, rows).slice(2, 0, rows).to(at::kFloat);
  at::Tensor a = probs[0].detach().slice(1, 0, rows).slice(2, 0, rows).to(at::kFloat);
  return (g * a).clamp_min(0).mean(0);
}

}  // namespace

std::vector<at::Tensor> chefer_layer_maps(Model& model, const Encoded& sample, int64_t target,
                                          TargetFunction f) {
  at::AutoGradMode grad_mode(true);
  const auto s = attention_detail::sample_tensors(model, sample, "chefer");
  Graph g = forward_with_probs(model, s, f);
  std::vector<at::Tensor> grads = torch::autograd::grad({g.f[target]}, g.probs);
  std::vector<at::Tensor> maps;
  for (size_t l = 0; l < grads.size(); ++l) maps.push_back(layer_map(grads[l], g.probs[l], s.T));
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
  XAI_CHECK(options_.diagonal == "keep" || options_.diagonal == "zero",
            "chefer: diagonal must be keep or zero (got '", options_.diagonal, "')");
}

Explanation Chefer::explain(Model& model, const Encoded& sample, ExplainContext&) {
  const auto start = std::chrono::steady_clock::now();
  at::AutoGradMode grad_mode(true);  // the written-out attention path, kept in the graph
  const auto s = attention_detail::sample_tensors(model, sample, "chefer");
  const int L = static_cast<int>(model.spec().num_layers);
  const int first =
      static_cast<int>(options_.start_layer < 0 ? L + options_.start_layer : options_.start_layer);
  XAI_CHECK(first >= 0 && first < L, "chefer: start_layer ", options_.start_layer,
            " is not a layer of this model (it has ", L, ")");
  Graph g = forward_with_probs(model, s, options_.common.target);
  XAI_CHECK(static_cast<int>(g.probs.size()) == L && g.probs[0].requires_grad(),
            "chefer: the model did not return attention probabilities in the autograd graph");

  // Row propagation inside the backward: the hooks on A_l fire from the top layer down (each
  // layer's gradient is complete only after every layer above it ran), and each folds
  // v <- v + v Abar_l. A hook that fires early waits in `pending` until its turn.
  at::Tensor v;      // (1, rows) the row of R being built
  int64_t rows = 0;  // p + 1
  int next = L - 1;  // the next layer to fold
  std::map<int, at::Tensor> pending;
  for (int l = first; l < L; ++l) {
    g.probs[l].register_hook([&, l](const at::Tensor& grad) {
      pending[l] = layer_map(grad, g.probs[l], rows);
      for (auto it = pending.find(next); it != pending.end(); it = pending.find(next)) {
        v = v + at::matmul(v, it->second);
        pending.erase(it);
        --next;
      }
    });
  }

  at::Tensor per_target = at::zeros({s.n, s.T}, at::kFloat);  // (n, T)
  for (int64_t t = 0; t < s.n; ++t) {
    const int64_t p = s.P - 1 + t;
    rows = p + 1;
    v = at::zeros({1, rows}, g.emb.options().dtype(at::kFloat));
    v[0][p] = 1.0f;
    next = L - 1;
    pending.clear();
    // The backward stops at the lowest folded layer's probabilities: nothing below them (that
    // layer's q, k and projections, the embeddings) is computed.
    const at::Tensor lowest = torch::autograd::grad({g.f[t]}, {g.probs[first]}, {},
                                                    /*retain_graph=*/t + 1 < s.n)[0];
    if (next == first) {  // LibTorch versions that do not run the hook of a gradient input
      v = v + at::matmul(v, layer_map(lowest, g.probs[first], rows));
      --next;
    }
    XAI_CHECK(next == first - 1, "chefer: the backward reached ", L - 1 - next, " of ", L - first,
              " attention layers");
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

}  // namespace xai
