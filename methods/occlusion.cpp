// See occlusion.h.
#include "methods/occlusion.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "framework/common/error.h"

namespace xai {
namespace {

using Removal = OcclusionOptions::Removal;

// The id `replace` writes: the tokenizer's UNK (PAD when it has none), the model's PAD, or an id.
int64_t replacement_id(const OcclusionOptions& o, const Model& model, const Encoded& s) {
  int64_t id = -1;
  if (o.token == "unk") {
    XAI_CHECK(s.unk_id.has_value(), "occlusion: token 'unk': the tokenizer has neither an UNK ",
              "nor a PAD token (HINT: token: pad, or a token id)");
    id = *s.unk_id;
  } else if (o.token == "pad") {
    XAI_CHECK(model.spec().pad_token_id.has_value(),
              "occlusion: token 'pad': ", model.spec().model_type,
              " has no pad_token_id in its config.json (HINT: token: "
              "unk, or a token id)");
    id = *model.spec().pad_token_id;
  } else {
    id = std::stoll(o.token);
  }
  XAI_CHECK(id >= 0 && id < model.spec().vocab_size, "occlusion: token ", id,
            " is outside the model's vocabulary of ", model.spec().vocab_size);
  return id;
}

// The request for the sample with, in row b, the positions gone[b] (ascending) removed; for
// `attention`, the control that hides them.
ForwardRequest removal_batch(Model& model, const Encoded& s, const SampleInput& input,
                             const std::vector<std::vector<int64_t>>& gone, Removal removal,
                             int64_t token, AttentionControl& ctl) {
  const int64_t B = static_cast<int64_t>(gone.size()), T = s.size();
  const at::Device dev = model.device();
  ForwardRequest req;
  const at::Tensor positions = logit_positions(s);  // (n)
  if (s.image() && removal == Removal::kDrop) {     // a patch keeps its place: its pixels go
    input.set(req, B);
    at::Tensor px = req.pixel_values.clone();  // (B, C, S, S)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t : gone[static_cast<size_t>(b)]) zero_patch(px[b], s, t);
    req.pixel_values = px;
    req.logit_positions = positions.to(dev);
    return req;
  }
  switch (removal) {
    case Removal::kAttention: {
      input.set(req, B);
      at::Tensor f = at::ones({B, T}, at::kFloat);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) f[b][t] = 0;
      ctl.key_factors = f.to(dev);
      ctl.mode = SuppressionMode::kLogAdditive;  // a factor of 0 hides the key outright
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kReplace: {
      input.set(req, B);
      at::Tensor ids = req.input_ids.to(at::kCPU).clone();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) ids[b][t] = token;
      req.input_ids = ids.to(dev);
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kZero: {
      at::Tensor e = input.embeddings(model).repeat({B, 1, 1});  // (B, T, D)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) e[b][t].zero_();
      req.inputs_embeds = e;
      input.set_types(req, B);
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kDrop:
      break;
  }
  // Drop: each row keeps the other positions, in order (equal lengths: every window is the same
  // size); a target's logit position moves up by the positions dropped before it, to the token
  // before it when it is dropped itself.
  // Built in plain vectors from the sample's own ids (one tensor each at the end, not one
  // tensor operation per element).
  const int64_t n = s.num_targets();
  const int64_t kept = T - static_cast<int64_t>(gone.front().size());
  XAI_CHECK(kept >= 1, "occlusion: dropping every position leaves nothing to run");
  const bool typed = !s.token_types.empty();
  std::vector<int64_t> ids, types, where;
  ids.reserve(static_cast<size_t>(B * kept));
  for (const auto& g : gone) {
    for (int64_t t = 0; t < T; ++t) {
      if (std::binary_search(g.begin(), g.end(), t)) continue;
      ids.push_back(s.ids[static_cast<size_t>(t)]);
      if (typed) types.push_back(s.token_types[static_cast<size_t>(t)]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = s.logit_position(i);
      const int64_t before = std::lower_bound(g.begin(), g.end(), p) - g.begin();
      const bool dropped = std::binary_search(g.begin(), g.end(), p);
      where.push_back(std::max<int64_t>(0, p - before - (dropped ? 1 : 0)));
    }
  }
  req.input_ids = at::tensor(ids, at::kLong).view({B, kept}).to(dev);
  if (typed) req.token_type_ids = at::tensor(types, at::kLong).view({B, kept}).to(dev);
  req.logit_positions = at::tensor(where, at::kLong).view({B, n}).to(dev);
  return req;
}

}  // namespace

const char* occlusion_removal_name(OcclusionOptions::Removal r) {
  switch (r) {
    case Removal::kDrop:
      return "drop";
    case Removal::kAttention:
      return "attention";
    case Removal::kReplace:
      return "replace";
    case Removal::kZero:
      return "zero";
  }
  return "?";
}

Occlusion::Occlusion(OcclusionOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.window >= 1, "window", "occlusion: window must be at least 1 (got ",
                   options_.window, ")");
  XAI_CHECK_OPTION(options_.batch_size >= 1, "batch_size",
                   "occlusion: batch_size must be positive (got ", options_.batch_size, ")");
}

std::string Occlusion::settings() const {
  std::string s = std::string("removal ") + occlusion_removal_name(options_.removal);
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
  const int64_t token =
      options_.removal == Removal::kReplace ? replacement_id(options_, model, sample) : -1;
  at::NoGradGuard no_grad;
  const SampleInput input = sample_input(model, sample);
  const at::Tensor targets = at::tensor(sample.target_ids, at::kLong).to(model.device());
  auto values = [&](const ForwardRequest& req, const AttentionControl& ctl, int64_t B) {
    const at::Tensor logits = model.forward(req, ctl).logits;  // (B, n, V)
    return target_function(logits.reshape({B * n, logits.size(2)}), targets.repeat({B}),
                           options_.common.target, model.vocab_slice())
        .view({B, n})
        .to(at::kCPU, at::kDouble);
  };
  Explanation out;
  // The clean input.
  at::Tensor clean;
  {
    ForwardRequest req;
    input.set(req);
    req.logit_positions = logit_positions(sample).to(model.device());
    clean = values(req, AttentionControl{}, 1)[0];  // (n)
    out.cost.forward_passes += 1;
    out.cost.sequences += 1;
  }
  // The windows: `window` consecutive explained positions, sliding by one.
  std::vector<int64_t> explained;
  for (int64_t t = 0; t < T; ++t) {
    if (sample.explain_mask[static_cast<size_t>(t)]) explained.push_back(t);
  }
  const int64_t E = static_cast<int64_t>(explained.size());
  const int64_t w = std::min<int64_t>(options_.window, std::max<int64_t>(E, 1));
  std::vector<std::vector<int64_t>> windows;
  for (int64_t k = 0; k + w <= E; ++k) {
    windows.emplace_back(explained.begin() + k, explained.begin() + k + w);
  }
  at::Tensor sums = at::zeros({n, T}, at::kDouble);
  std::vector<double> count(static_cast<size_t>(T), 0.0);
  const int64_t W = static_cast<int64_t>(windows.size());
  for (int64_t k0 = 0; k0 < W; k0 += options_.batch_size) {
    const int64_t B = std::min(options_.batch_size, W - k0);
    const std::vector<std::vector<int64_t>> gone(windows.begin() + k0, windows.begin() + k0 + B);
    AttentionControl ctl;
    const ForwardRequest req =
        removal_batch(model, sample, input, gone, options_.removal, token, ctl);
    const at::Tensor f = values(req, ctl, B);  // (B, n)
    for (int64_t b = 0; b < B; ++b) {
      const at::Tensor drop = clean - f[b];  // (n)
      for (int64_t t : gone[static_cast<size_t>(b)]) {
        sums.select(1, t) += drop;
        count[static_cast<size_t>(t)] += 1;
      }
    }
    out.cost.forward_passes += 1;
    out.cost.sequences += B;
    if (ctx.progress) ctx.progress(k0 + B, W);
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
