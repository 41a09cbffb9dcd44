#include "methods/integrated_gradients.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "framework/common/error.h"
#include "methods/saliency.h"

namespace xai {
namespace {

using Options = IntegratedGradientsOptions;

const char* name_of(Options::Quadrature q) {
  switch (q) {
    case Options::Quadrature::kGaussLegendre:
      return "gausslegendre";
    case Options::Quadrature::kRiemannLeft:
      return "riemann_left";
    case Options::Quadrature::kRiemannRight:
      return "riemann_right";
    case Options::Quadrature::kRiemannMiddle:
      return "riemann_middle";
    case Options::Quadrature::kRiemannTrapezoid:
      return "riemann_trapezoid";
  }
  return "?";
}

const char* name_of(Options::Baseline b) {
  switch (b) {
    case Options::Baseline::kAuto:
      return "auto";
    case Options::Baseline::kZero:
      return "zero";
    case Options::Baseline::kToken:
      return "token";
    case Options::Baseline::kUnk:
      return "unk";
  }
  return "?";
}

// Gauss-Legendre nodes (ascending) and weights on [-1, 1]: Newton's method on P_n from the
// Chebyshev-like first guesses, P_n and P_n' by the three-term recurrence.
void gauss_legendre(int64_t n, std::vector<double>& x, std::vector<double>& w) {
  x.assign(n, 0.0);
  w.assign(n, 0.0);
  const double pi = std::acos(-1.0);
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    double z = std::cos(pi * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    double dp = 1.0;
    for (int iter = 0; iter < 100; ++iter) {
      double p_prev = 1.0, p = z;  // P_0, P_1
      for (int64_t k = 2; k <= n; ++k) {
        const double p_next = ((2.0 * k - 1.0) * z * p - (k - 1.0) * p_prev) / k;
        p_prev = p;
        p = p_next;
      }
      if (n == 1) p_prev = 1.0;
      dp = static_cast<double>(n) * (z * p - p_prev) / (z * z - 1.0);  // P_n'(z)
      const double step = p / dp;
      z -= step;
      if (std::abs(step) < 1e-15) break;
    }
    // Recompute P_n' at the converged node for the weight.
    double p_prev = 1.0, p = z;
    for (int64_t k = 2; k <= n; ++k) {
      const double p_next = ((2.0 * k - 1.0) * z * p - (k - 1.0) * p_prev) / k;
      p_prev = p;
      p = p_next;
    }
    if (n == 1) p_prev = 1.0;
    dp = static_cast<double>(n) * (z * p - p_prev) / (z * z - 1.0);
    const double weight = 2.0 / ((1.0 - z * z) * dp * dp);
    x[n - 1 - i] = z;
    x[i] = -z;
    w[n - 1 - i] = weight;
    w[i] = weight;
  }
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> ig_quadrature(Options::Quadrature q,
                                                                  int64_t n) {
  std::vector<double> a, w;
  if (q == Options::Quadrature::kGaussLegendre) {
    XAI_CHECK(n >= 1, "integrated_gradients: gausslegendre needs steps >= 1 (got ", n, ")");
    gauss_legendre(n, a, w);
    for (int64_t i = 0; i < n; ++i) {
      a[i] = 0.5 * (1.0 + a[i]);
      w[i] = 0.5 * w[i];
    }
    return {a, w};
  }
  XAI_CHECK(n >= 2, "integrated_gradients: ", name_of(q), " needs steps >= 2 (got ", n, ")");
  const double dn = static_cast<double>(n);
  auto linspace = [&](double lo, double hi) {
    for (int64_t i = 0; i < n; ++i) a.push_back(lo + (hi - lo) * static_cast<double>(i) / (dn - 1));
  };
  switch (q) {
    case Options::Quadrature::kRiemannLeft:
      linspace(0.0, 1.0 - 1.0 / dn);
      break;
    case Options::Quadrature::kRiemannRight:
      linspace(1.0 / dn, 1.0);
      break;
    case Options::Quadrature::kRiemannMiddle:
      linspace(1.0 / (2.0 * dn), 1.0 - 1.0 / (2.0 * dn));
      break;
    default:  // trapezoid
      linspace(0.0, 1.0);
      break;
  }
  w.assign(n, 1.0 / dn);
  if (q == Options::Quadrature::kRiemannTrapezoid) {
    w.front() /= 2;  // captum's weights: 1/n, halved at both ends
    w.back() /= 2;
  }
  return {a, w};
}

IntegratedGradients::IntegratedGradients(IntegratedGradientsOptions options)
    : options_(std::move(options)) {
  const bool riemann = options_.quadrature != Options::Quadrature::kGaussLegendre;
  XAI_CHECK_OPTION(options_.steps >= (riemann ? 2 : 1), "steps",
                   "integrated_gradients: steps must be >= ", riemann ? 2 : 1, " for ",
                   name_of(options_.quadrature), " (got ", options_.steps, ")");
  XAI_CHECK_OPTION(options_.batch_size > 0, "batch_size",
                   "integrated_gradients: batch_size must be positive (got ", options_.batch_size,
                   ")");
  XAI_CHECK_OPTION(!options_.baseline_token_id || *options_.baseline_token_id >= 0,
                   "baseline_token_id",
                   "integrated_gradients: baseline_token_id must be >= 0 (got ",
                   *options_.baseline_token_id, ")");
  XAI_CHECK_OPTION(options_.delta_tolerance > 0, "delta_tolerance",
                   "integrated_gradients: delta_tolerance must be positive (got ",
                   options_.delta_tolerance, ")");
}

std::string IntegratedGradients::settings() const {
  // auto's choice on each model is stored per sample (extras baseline_token).
  std::string b = name_of(options_.baseline);
  if (options_.baseline == Options::Baseline::kToken) {
    b += str_cat(" ", options_.baseline_token_id.value_or(0));
  }
  return str_cat("baseline ", b, ", ", options_.steps, " steps");
}

std::string IntegratedGradients::score_sign() const {
  return "the token's share of f(x) - f(baseline) along the path: > 0 it raises the target's " +
         std::string(name_of(options_.common.target)) + ", < 0 it lowers it";
}

void IntegratedGradients::check_model(const Model& model) const {
  const int64_t V = model.spec().vocab_size;
  Options::Baseline baseline = options_.baseline;
  if (baseline == Options::Baseline::kAuto) {
    baseline = model.spec().norm_bias ? Options::Baseline::kZero : Options::Baseline::kToken;
  }
  if (baseline == Options::Baseline::kZero) return;  // no token to check
  XAI_CHECK(V > 0, "integrated_gradients: baseline '",
            baseline == Options::Baseline::kUnk ? "unk" : "token",
            "' is a token, and this model reads images (HINT: baseline: zero, or auto)");
  XAI_CHECK(!options_.baseline_token_id || *options_.baseline_token_id < V,
            "integrated_gradients: baseline_token_id ", options_.baseline_token_id.value_or(0),
            " is outside the model's vocabulary of ", V,
            " (HINT: use an id of this model's tokenizer)");
}

Explanation IntegratedGradients::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  check_gradient_sample(sample, "integrated_gradients");
  const int64_t T = sample.size(), n = sample.num_targets();
  // The written-out attention runs only with grad mode on, whatever the caller's mode.
  at::AutoGradMode grad_mode(true);
  const at::Device dev = model.device();
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
  at::Tensor targets = sample_targets(sample, dev);  // (n), or (n, 2) with a contrast
  at::Tensor positions = logit_positions(sample).to(dev);                 // (n)
  const SampleInput input = sample_input(model, sample);

  // auto: this model's choice (zero with LayerNorm, the token baseline with RMSNorm).
  Options::Baseline baseline = options_.baseline;
  if (baseline == Options::Baseline::kAuto) {
    baseline = model.spec().norm_bias ? Options::Baseline::kZero : Options::Baseline::kToken;
  }
  // An image: the path runs through the pixels (the model's input, as captum's IG on a vision
  // model), from the zero image; E and E0 are its two ends after the (affine) patch embedding, so
  // the same points give the patch scores and, from the pixel gradients, the pixel map.
  const bool image = sample.image();
  at::Tensor px, px0;           // (1, C, H, W): the image and the baseline image
  at::Tensor e, e0;             // (T, D): the layer-0 inputs and the baseline's
  int64_t baseline_token = -1;  // what E0 was built from, stored as an extra
  if (image) {
    XAI_CHECK(baseline == Options::Baseline::kZero, "integrated_gradients: baseline '",
              baseline == Options::Baseline::kUnk ? "unk" : "token",
              "' is a token, and this sample is an image (HINT: baseline: zero)");
    px = input.pixels.detach().to(at::kFloat);
    px0 = at::zeros_like(px);
    at::NoGradGuard no_grad;
    e = model.embed_pixels(px)[0].to(at::kFloat);
    e0 = model.embed_pixels(px0)[0].to(at::kFloat);
  } else {
    e = input.embeddings(model).detach()[0].to(at::kFloat);
    if (baseline == Options::Baseline::kZero) {
      e0 = at::zeros_like(e);
    } else {
      check_model(model);
      // unk without an id: the sample's tokenizer's UNK id (its PAD id when it has no UNK).
      XAI_CHECK(options_.baseline_token_id || baseline != Options::Baseline::kUnk || sample.unk_id,
                "integrated_gradients: baseline 'unk': the tokenizer has neither an UNK nor a PAD "
                "token (tokenizer_config.json unk_token / pad_token, tokenizer.json "
                "model.unk_token) (HINT: set baseline_token_id)");
      const int64_t id = options_.baseline_token_id            ? *options_.baseline_token_id
                         : baseline == Options::Baseline::kUnk ? *sample.unk_id
                                                               : 0;
      baseline_token = id;
      XAI_CHECK(id >= 0 && id < model.spec().vocab_size, "integrated_gradients: the tokenizer's ",
                "UNK/PAD id ", id, " is outside the model's vocabulary of ",
                model.spec().vocab_size);
      at::Tensor base = at::full({1, T}, id, at::kLong);
      if (options_.baseline_keep_bos && leading_bos(sample)) base[0][0] = sample.ids[0];
      e0 = model.embed(base.to(dev)).detach()[0].to(at::kFloat);
    }
  }
  const int64_t D = e.size(1);
  const at::Tensor diff = e - e0;  // (T, D)

  const auto [alphas, weights] = ig_quadrature(options_.quadrature, options_.steps);
  const int64_t K = static_cast<int64_t>(alphas.size());
  at::Tensor grad_sum = at::zeros({n, T, D}, f32);  // (n, T, D) sum_k w_k df_t/dE(x_k)
  at::Tensor pixel_grad_sum;                        // (n, C, H, W) sum_k w_k df_t/dpx(x_k)
  if (image) pixel_grad_sum = at::zeros({n, px.size(1), px.size(2), px.size(3)}, f32);
  Explanation out;
  for (int64_t k0 = 0; k0 < K; k0 += options_.batch_size) {
    const int64_t b = std::min(options_.batch_size, K - k0);
    at::Tensor a = at::tensor(std::vector<double>(alphas.begin() + k0, alphas.begin() + k0 + b))
                       .to(f32)
                       .view({b, 1, 1});
    at::Tensor w =
        at::tensor(std::vector<double>(weights.begin() + k0, weights.begin() + k0 + b)).to(f32);
    // The model casts the float32 points to its own dtype; gradients come back in float32.
    at::Tensor xp;  // (b, C, H, W) the points in pixel space (an image)
    at::Tensor x;   // (b, T, D) the points the model reads
    if (image) {
      xp = (px0 + a.view({b, 1, 1, 1}) * (px - px0)).detach().requires_grad_(true);
      x = model.embed_pixels(xp);
    } else {
      x = (e0.unsqueeze(0) + a * diff.unsqueeze(0)).detach().requires_grad_(true);
    }
    ForwardRequest req;
    req.inputs_embeds = x;  // (b, T, D)
    input.set_types(req, x.size(0));
    req.logit_positions = positions;
    req.vocab_parallel = true;
    ForwardResult res = model.forward(req);  // logits (b, n, V)
    at::Tensor f = target_function(res.logits.reshape({b * n, res.logits.size(2)}),
                                   repeat_targets(targets, b), options_.common.target, model.vocab_slice())
                       .view({b, n});
    for (int64_t t = 0; t < n; ++t) {
      // Weighting before the backward gives sum_k w_k df_t/dx_k in one pass per target.
      const at::Tensor ft = (f.select(1, t) * w).sum();
      if (image) {
        const auto g = torch::autograd::grad({ft}, {x, xp}, {}, /*retain_graph=*/t + 1 < n);
        grad_sum[t] += g[0].to(at::kFloat).sum(0);
        pixel_grad_sum[t] += g[1].to(at::kFloat).sum(0);
        continue;
      }
      at::Tensor g = torch::autograd::grad({ft}, {x}, {},
                                           /*retain_graph=*/t + 1 < n)[0];  // (b, T, D)
      grad_sum[t] += g.to(at::kFloat).sum(0);
    }
    out.cost.forward_passes += 1;
    out.cost.sequences += b;
    out.cost.backward_passes += n;
    if (ctx.progress) ctx.progress(k0 + b, K);
  }

  // f at both ends of the path, for the convergence delta: an inference forward (no graph, and
  // the fused attention kernel where the model has one).
  at::Tensor ends;  // (2, n): f(E), f(E0)
  {
    at::NoGradGuard no_grad;
    ForwardRequest req;
    req.inputs_embeds = at::stack({e, e0});
    input.set_types(req, 2);
    req.logit_positions = positions;
    req.vocab_parallel = true;
    ForwardResult res = model.forward(req);
    ends = target_function(res.logits.reshape({2 * n, res.logits.size(2)}), repeat_targets(targets, 2),
                           options_.common.target, model.vocab_slice())
               .view({2, n})
               .detach()
               .to(at::kCPU, at::kDouble);
    out.cost.forward_passes += 1;
    out.cost.sequences += 2;
  }

  at::Tensor scores = at::zeros({n, T}, at::kFloat);  // (n, T)
  at::Tensor delta = at::zeros({n}, at::kDouble);
  at::Tensor relative = at::zeros({n}, at::kDouble);
  bool flagged = false;
  for (int64_t t = 0; t < n; ++t) {
    at::Tensor attribution = diff * grad_sum[t];  // (T, D)
    scores[t] = aggregate_embedding(attribution, options_.common.embedding).to(at::kCPU);
    const double change = ends[0][t].item<double>() - ends[1][t].item<double>();
    const double d = attribution.to(at::kDouble).sum().item<double>() - change;
    delta[t] = d;
    // A path with no change to explain: any delta is all of it.
    const double r = std::abs(d) / std::max(std::abs(change), 1e-12);
    relative[t] = r;
    flagged = flagged || r > options_.delta_tolerance;
  }
  if (image) {  // (n, H, W): each target's (x - x0) * sum_k w_k df/dx, summed over the channels
    out.extras[kPixelRelevance] = ((px - px0) * pixel_grad_sum).sum(1).to(at::kCPU);
  }
  out.per_target = finish_scores(scores, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.extras["convergence_delta"] = delta.to(at::kFloat);
  out.extras["convergence_relative"] = relative.to(at::kFloat);
  out.extras["convergence_flag"] = at::full({1}, flagged ? 1.0f : 0.0f);
  out.extras["baseline_token"] = at::full({1}, static_cast<float>(baseline_token));
  out.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return out;
}

std::string IntegratedGradientsOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "integrated_gradients";
  j["steps"] = steps;
  j["quadrature"] = name_of(quadrature);
  j["baseline"] = name_of(baseline);
  // null: none (zero baseline) or, for unk, the tokenizer's UNK (else PAD) id, per model.
  j["baseline_token_id"] =
      baseline == Baseline::kZero || (baseline == Baseline::kUnk && !baseline_token_id)
          ? nlohmann::ordered_json(nullptr)
          : nlohmann::ordered_json(baseline_token_id.value_or(0));
  j["baseline_keep_bos"] = baseline_keep_bos;
  j["batch_size"] = batch_size;
  j["delta_tolerance"] = delta_tolerance;
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed IntegratedGradients::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  c.all_layers = true;
  // Fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap` is
  // resident memory per byte of the tensors under the fast host memory's heap threshold.
  c.hidden_once = 1.39;
  c.hidden = 3.38;
  c.graph = 0.634;
  c.square = 0.344;
  c.block = 2.49;
  c.megabytes = 3.29;
  c.heap = 1.95;
  // A batch holds at most the points there are.
  return batched_need(q, c, "batch_size", std::min(options_.batch_size, options_.steps),
                      options_.batch_size_given);
}

}  // namespace xai
