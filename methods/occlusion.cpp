// See occlusion.h.
#include "methods/occlusion.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/family.h"

namespace xai {

using Removal = OcclusionOptions::Removal;

Occlusion::Occlusion(OcclusionOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.window >= 1, "window", "occlusion: window must be at least 1 (got ",
                   options_.window, ")");
  XAI_CHECK_OPTION(options_.batch_size >= 1, "batch_size",
                   "occlusion: batch_size must be positive (got ", options_.batch_size, ")");
}

std::string Occlusion::settings() const {
  std::string s = std::string("removal ") + removal_name(options_.removal);
  if (options_.removal == Removal::kReplace) s += " by " + options_.token;
  if (options_.window > 1) s += ", window " + std::to_string(options_.window);
  return s;
}

std::string Occlusion::score_sign() const {
  return "how much removing the token lowers the target's " +
         std::string(options_.common.target == TargetFunction::kLogProb ? "log-probability"
                     : options_.common.target == TargetFunction::kProb  ? "probability"
                                                                        : "logit") +
         ": > 0 it supports the target, < 0 the target rises without it";
}

Explanation Occlusion::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t T = sample.size(), n = sample.num_targets();
  XAI_CHECK(T > 0 && n > 0, "occlusion: the sample has no target");
  XAI_CHECK(!(sample.image() && options_.removal == Removal::kReplace),
            "occlusion: removal 'replace' replaces a token, and this sample is an image "
            "(HINT: removal: drop, zero or attention)");
  XAI_CHECK(!(sample.image() && options_.removal == Removal::kDrop && sample.explain_mask[0]),
            "occlusion: removal 'drop' zeroes an image's patches, and position 0 is its [CLS] "
            "token (HINT: leave [CLS] unexplained, or removal: attention or zero)");
  const int64_t token = options_.removal == Removal::kReplace
                            ? replacement_id(options_.token, model, sample, "occlusion")
                            : -1;
  at::NoGradGuard no_grad;
  const SampleInput input = sample_input(model, sample);
  const at::Tensor targets = sample_targets(sample, model.device());
  // The target function of each row's logits (B, n, V): (B, n).
  auto values = [&](const at::Tensor& logits) {
    const int64_t B = logits.size(0);
    return target_function(logits.reshape({B * n, logits.size(2)}), repeat_targets(targets, B),
                           options_.common.target, model.vocab_slice())
        .view({B, n})
        .to(at::kCPU, at::kDouble);
  };
  Explanation out;
  // The clean input; on a causal model's text its keys and values too, for the prefix a batch's
  // removals leave unchanged (AtMan's prefix reuse).
  const bool reuse = !sample.image() && sample.token_types.empty() && is_causal(model.spec());
  at::Tensor clean;
  KVCache cache;
  {
    ForwardRequest req;
    input.set(req);
    req.logit_positions = logit_positions(sample).to(model.device());
    req.return_cache = reuse;
    ForwardResult r = model.forward(req);
    clean = values(r.logits)[0];  // (n)
    cache = std::move(r.cache);
    out.cost.forward_passes += 1;
    out.cost.sequences += 1;
  }
  // Where a batch may start: before its first removed position, and for a drop at the latest at
  // the kept token that takes over a dropped target's prediction (the last one before it).
  auto batch_start = [&](const std::vector<std::vector<int64_t>>& gone) {
    if (!reuse) return int64_t{0};
    int64_t start = sample.size();
    for (const auto& g : gone) {
      start = std::min(start, g.front());
      if (options_.removal != Removal::kDrop) continue;
      for (int64_t i = 0; i < n; ++i) {
        int64_t p = sample.logit_position(i);
        if (!std::binary_search(g.begin(), g.end(), p)) continue;
        while (p > 0 && std::binary_search(g.begin(), g.end(), p)) --p;  // the last kept token
        start = std::min(start, p);
      }
    }
    return std::max<int64_t>(0, start);
  };
  // The units removed: each explained position, or each segment (Encoded::segments); the
  // windows: `window` consecutive units, sliding by one.
  std::vector<std::vector<int64_t>> units;
  if (sample.segments.empty()) {
    for (int64_t t = 0; t < T; ++t) {
      if (sample.explain_mask[static_cast<size_t>(t)]) units.push_back({t});
    }
  } else {
    for (const Segment& g : sample.segments) {
      units.emplace_back();
      for (int64_t t = g.first; t < g.end; ++t) units.back().push_back(t);
    }
  }
  const int64_t E = static_cast<int64_t>(units.size());
  const int64_t w = std::min<int64_t>(options_.window, std::max<int64_t>(E, 1));
  std::vector<std::vector<int64_t>> windows;
  for (int64_t k = 0; k + w <= E; ++k) {
    std::vector<int64_t> g;
    for (int64_t j = k; j < k + w; ++j) {
      g.insert(g.end(), units[static_cast<size_t>(j)].begin(), units[static_cast<size_t>(j)].end());
    }
    windows.push_back(std::move(g));
  }
  at::Tensor sums = at::zeros({n, T}, at::kDouble);
  std::vector<double> count(static_cast<size_t>(T), 0.0);
  const int64_t W = static_cast<int64_t>(windows.size());
  // Dropping text runs a batch as shortened sequences when its rows remove equally many tokens
  // (removal_request); windows of segments differ in size, so a batch holds one size only (the
  // mask form cannot move a dropped target's prediction to the token before it).
  const bool by_size = options_.removal == Removal::kDrop && !sample.image();
  if (by_size) {
    std::stable_sort(windows.begin(), windows.end(),
                     [](const auto& a, const auto& b) { return a.size() < b.size(); });
  }
  for (int64_t k0 = 0; k0 < W;) {
    int64_t B = std::min(options_.batch_size, W - k0);
    for (int64_t b = 1; b < B && by_size; ++b) {
      if (windows[static_cast<size_t>(k0 + b)].size() != windows[static_cast<size_t>(k0)].size())
        B = b;
    }
    const std::vector<std::vector<int64_t>> gone(windows.begin() + k0, windows.begin() + k0 + B);
    AttentionControl ctl;
    const int64_t start = batch_start(gone);
    ForwardRequest req =
        removal_request(model, sample, input, gone, options_.removal, token, ctl, start);
    const KVCache prefix = start > 0 ? cache.prefix(start) : KVCache();
    if (start > 0) req.past = &prefix;
    const at::Tensor f = values(model.forward(req, ctl).logits);  // (B, n)
    for (int64_t b = 0; b < B; ++b) {
      const at::Tensor drop = clean - f[b];  // (n)
      for (int64_t t : gone[static_cast<size_t>(b)]) {
        sums.select(1, t) += drop;
        count[static_cast<size_t>(t)] += 1;
      }
    }
    out.cost.forward_passes += 1;
    out.cost.sequences += B;
    k0 += B;
    if (ctx.progress) ctx.progress(k0, W);
  }
  for (int64_t t = 0; t < T; ++t) {
    if (count[static_cast<size_t>(t)] > 0) sums.select(1, t) /= count[static_cast<size_t>(t)];
  }
  out.per_target = finish_scores(sums.to(at::kFloat), sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return out;
}

// Not fitted like the other methods' (docs/performance.md): each removal of a batch is one
// inference forward of the sample, so a batch row costs what a one-row inference forward does.
MemoryNeed Occlusion::memory_need(const MemoryQuery& q) const {
  MemoryNeed n = inference_forward_need(q);
  n.per_unit = n.fixed;
  n.fixed = 0;
  n.knob = "batch_size";
  n.units = options_.batch_size;
  n.max_units = std::max<int64_t>(1, q.basis.tokens);
  n.knob_given = options_.batch_size_given;
  return n;
}

}  // namespace xai
