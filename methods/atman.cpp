#include "methods/atman.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include "framework/common/error.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"
#include "framework/model/family.h"

namespace xai {

int64_t AtMan::Suppression::first_key() const {
  return *std::min_element(keys.begin(), keys.end());
}

AtMan::AtMan(AtManOptions options) : options_(std::move(options)) {
  XAI_CHECK_OPTION(options_.factor >= 0, "factor", "atman: factor must be >= 0 (got ",
                   options_.factor, ")");
  XAI_CHECK_OPTION(!options_.kappa || (*options_.kappa >= -1 && *options_.kappa <= 1), "kappa",
                   "atman: kappa must lie in [-1, 1] or be off (got ",
                   options_.kappa ? *options_.kappa : 0.0, ")");
  XAI_CHECK_OPTION(options_.batch_size > 0, "batch_size",
                   "atman: batch_size must be positive (got ", options_.batch_size, ")");
  XAI_CHECK_OPTION(options_.top_k >= 0, "top_k", "atman: top_k must be >= 0 (got ", options_.top_k,
                   ")");
  XAI_CHECK_OPTION(options_.aggregation == "square" || options_.aggregation == "abs" ||
                       options_.aggregation == "sum",
                   "aggregation", "atman: aggregation must be square, abs or sum");
}

std::vector<AtMan::Suppression> AtMan::plan(const at::Tensor& embeddings,
                                            const Encoded& sample) const {
  const int64_t T = sample.size(), P = sample.prompt_len;
  // The units suppressed as one: each explained prompt position, or each segment.
  std::vector<std::vector<int64_t>> units;
  if (sample.segments.empty()) {
    for (int64_t i = 0; i < P; ++i) {
      if (sample.explain_mask[i]) units.push_back({i});
    }
  } else {
    for (const Segment& g : sample.segments) {
      units.emplace_back();
      for (int64_t i = g.first; i < g.end; ++i) units.back().push_back(i);
    }
  }
  for (int64_t i = P; i < T && options_.explain_targets; ++i) units.push_back({i});
  at::Tensor cos;  // (T, T) float32 cosine similarity of layer-0 embeddings, clipped to [-1, 1]
  if (options_.kappa) {
    at::Tensor e = embeddings.to(at::kCPU, at::kFloat);
    at::Tensor n = e / e.norm(2, -1, true).clamp_min(1e-8);
    cos = at::mm(n, n.t()).clamp(-1, 1).contiguous();
  }
  const float f = static_cast<float>(options_.factor);
  std::vector<Suppression> out;
  out.reserve(units.size());
  for (const std::vector<int64_t>& unit : units) {
    Suppression s;
    s.position = unit.front();
    s.scored = unit;
    s.keys = unit;
    s.factors.assign(unit.size(), f);
    if (options_.kappa) {
      // Each neighbour's multiplier: the one furthest from 1 any token of the unit gives it.
      std::map<int64_t, float> neighbours;
      for (int64_t i : unit) {
        const float* row = cos.data_ptr<float>() + i * T;
        std::vector<int64_t> nb;
        for (int64_t j = 0; j < T; ++j) {
          if (row[j] >= *options_.kappa && !std::binary_search(unit.begin(), unit.end(), j))
            nb.push_back(j);
        }
        if (options_.top_k > 0 && static_cast<int64_t>(nb.size()) > options_.top_k) {
          std::stable_sort(nb.begin(), nb.end(),
                           [&](int64_t a, int64_t b) { return row[a] > row[b]; });
          nb.resize(options_.top_k);
        }
        for (int64_t j : nb) {
          const float c = row[j];
          // Reference: (1 - s)(1 - cos) + s = 1 - f cos; outside [0, 1] the neighbour is
          // untouched.
          const float m = options_.cos_scaled ? (c < 0 || c > 1 ? 1.0f : (1 - f) * (1 - c) + f) : f;
          auto [it, fresh] = neighbours.emplace(j, m);
          if (!fresh && std::abs(1 - m) > std::abs(1 - it->second)) it->second = m;
        }
      }
      for (const auto& [j, m] : neighbours) {
        s.keys.push_back(j);
        s.factors.push_back(m);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

void AtMan::check_model(const Model& model) const {
  for (int l : options_.layers)
    model_layer("atman", "layers entry", l, model.spec().num_layers, false);
}

Explanation AtMan::explain_share(Model& model, const Encoded& sample, ExplainContext& ctx,
                                 int share, int shares) {
  at::NoGradGuard no_grad;
  check_model(model);
  const int64_t T = sample.size(), P = sample.prompt_len, n = sample.num_targets();
  XAI_CHECK(T > 0 && n > 0 && P >= 1 && P - 1 + n == T, "atman: malformed sample (T = ", T,
            ", prompt_len = ", P, ", targets = ", n, ")");
  const at::Device dev = model.device();
  at::Tensor targets = sample_targets(sample, dev);  // (n), or (n, 2) with a contrast
  at::Tensor target_pos = logit_positions(sample);   // (n) where each target's logits are read
  // A cached clean prefix serves only a causal model: in an encoder a suppressed key changes
  // every position, earlier ones included, and every target with them.
  const bool causal = is_causal(model.spec());
  const bool prefix_reuse = options_.prefix_reuse && causal;
  // The first target whose prediction a suppression starting at key `key` can change.
  auto first_changed = [&](int64_t key) {
    return causal ? std::max<int64_t>(0, key - (P - 1)) : int64_t{0};
  };

  Explanation out;
  const SampleInput input = sample_input(model, sample);
  std::vector<Suppression> sups = plan(input.embeddings(model)[0], sample);

  // Clean pass, keeping K/V of every layer for prefix reuse (layer-major: each layer's weights
  // dropped after it, as for the perturbations below).
  ForwardRequest clean;
  input.set(clean);
  if (options_.head_at_targets) clean.logit_positions = target_pos.to(dev);
  clean.return_cache = prefix_reuse;
  clean.release_layers = ctx.layer_major;
  clean.vocab_parallel = true;  // under tensor parallelism: this rank's vocabulary rows
  const VocabSlice vocab = model.vocab_slice();
  ForwardResult base = model.forward(clean);
  at::Tensor base_logits = options_.head_at_targets
                               ? base.logits[0]
                               : base.logits[0].index_select(0, target_pos.to(dev));
  const at::Tensor ce_clean =
      target_cross_entropy(base_logits, targets, vocab).to(at::kCPU);  // (n)
  // The clean pass is counted once per group (by share 0), so the group's summed costs equal
  // those of one rank.
  out.cost.forward_passes = share == 0 ? 1 : 0;
  out.cost.sequences = share == 0 ? 1 : 0;

  at::Tensor per_target = at::zeros({n, T}, at::kFloat);  // (n_targets, T)
  auto pt = per_target.accessor<float, 2>();
  auto clean_ce = ce_clean.accessor<double, 1>();

  // Perturbations in order of their first suppressed key, so a batch shares a long prefix.
  std::vector<size_t> order(sups.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sups[a].first_key() < sups[b].first_key(); });

  AttentionControl control;
  control.mode = options_.mode;
  control.shift_minimum = options_.minimum;
  control.layers = options_.layers;
  const int64_t total = static_cast<int64_t>(order.size());
  // This share's batches: rows order[b0 .. b0 + nb), the prefix reused from the clean pass and
  // the targets whose prediction can change.
  struct Batch {
    int64_t b0 = 0, nb = 0, start = 0, t0 = 0, nt = 0;
    at::Tensor factors;  // (nb, S) over all key positions
    KVCache prefix;
    ForwardRequest req;
  };
  std::vector<Batch> batches;
  for (int64_t b0 = 0; b0 < total; b0 += options_.batch_size) {
    // Batches (not rows) are dealt to the shares, so each batch is formed exactly as on one
    // rank and its rows come out bit for bit the same.
    if ((b0 / options_.batch_size) % shares != share) continue;
    Batch b;
    b.b0 = b0;
    b.nb = std::min(options_.batch_size, total - b0);
    if (prefix_reuse) {
      b.start = T;
      for (int64_t r = 0; r < b.nb; ++r)
        b.start = std::min(b.start, sups[order[b0 + r]].first_key());
    }
    // Targets predicted at positions < start cannot change: only later ones are computed.
    b.t0 = first_changed(b.start);
    b.nt = n - b.t0;
    if (b.nt <= 0) continue;
    b.factors = at::ones({b.nb, T}, at::kFloat);
    auto fa = b.factors.accessor<float, 2>();
    for (int64_t r = 0; r < b.nb; ++r) {
      const Suppression& s = sups[order[b0 + r]];
      for (size_t k = 0; k < s.keys.size(); ++k) fa[r][s.keys[k]] = s.factors[k];
    }
    b.factors = b.factors.to(dev);
    batches.push_back(std::move(b));
  }
  auto prepare = [&](Batch& b) {  // the batch's request (its prefix views the clean pass's K/V)
    b.req = ForwardRequest();
    input.set(b.req, b.nb, b.start);
    b.req.vocab_parallel = true;
    b.prefix = KVCache();
    if (b.start > 0) {
      b.prefix = base.cache.prefix(b.start);
      b.req.past = &b.prefix;
    }
    at::Tensor rows = target_pos.slice(0, b.t0) - b.start;  // (nt) positions within this call
    if (options_.head_at_targets) b.req.logit_positions = rows.to(dev);
    return rows;
  };
  int64_t done = 0;
  auto finish = [&](const Batch& b, const at::Tensor& rows, const at::Tensor& res_logits) {
    at::Tensor logits =
        options_.head_at_targets ? res_logits : res_logits.index_select(1, rows.to(dev));
    at::Tensor ce = target_cross_entropy(logits.reshape({b.nb * b.nt, logits.size(2)}),
                                         repeat_targets(targets.slice(0, b.t0), b.nb), vocab)
                        .view({b.nb, b.nt})
                        .to(at::kCPU);  // (nb, nt)
    auto c = ce.accessor<double, 2>();
    for (int64_t r = 0; r < b.nb; ++r) {
      const Suppression& s = sups[order[b.b0 + r]];
      // A target predicted before this row's first suppressed key cannot change: keep its exact 0
      // rather than the rounding noise of a recomputation.
      const int64_t t_first = std::max<int64_t>(b.t0, first_changed(s.first_key()));
      for (int64_t t = t_first; t < n; ++t) {
        const float v = static_cast<float>(c[r][t - b.t0] - clean_ce[t]);
        for (int64_t p : s.scored) pt[t][p] = v;
      }
    }
    out.cost.forward_passes += 1;
    out.cost.sequences += b.nb;
    done += b.nb;
    if (ctx.progress) ctx.progress(done, total);
  };

  const int L = static_cast<int>(model.spec().num_layers);
  if (!ctx.layer_major || L < 2) {
    for (Batch& b : batches) {
      const at::Tensor rows = prepare(b);
      control.key_factors = b.factors;
      finish(b, rows, model.forward(b.req, control).logits);
    }
  } else {
    // Layer-major: a group of batches passes layer l before any passes layer l + 1, so each
    // layer's weights are read once per group (and dropped from memory after it, when mapped).
    // The group holds every batch's residual stream: as many batches as fit ctx.layer_major_bytes.
    const int64_t D = model.spec().hidden_size;
    const int64_t elem = at::elementSize(model.dtype());
    for (size_t g0 = 0; g0 < batches.size();) {
      auto stream_bytes = [&](const Batch& b) { return b.nb * (T - b.start) * D * elem; };
      size_t g1 = g0;
      int64_t bytes = 0;
      do {
        bytes += stream_bytes(batches[g1++]);
      } while (g1 < batches.size() && bytes + stream_bytes(batches[g1]) <= ctx.layer_major_bytes);
      std::vector<at::Tensor> states(g1 - g0), rows(g1 - g0);
      for (int l = 0; l < L; ++l) {
        for (size_t k = g0; k < g1; ++k) {
          Batch& b = batches[k];
          if (l == 0) rows[k - g0] = prepare(b);
          ForwardRequest req;
          req.past = b.req.past;
          if (l == 0) {
            input.set(req, b.nb, b.start);  // as prepare() set b.req
          } else {
            req.hidden_states = states[k - g0];
            req.start_layer = l;
          }
          control.key_factors = b.factors;
          if (l + 1 < L) {
            req.end_layer = l + 1;
            states[k - g0] = model.forward(req, control).hidden_states;
          } else {
            req.logit_positions = b.req.logit_positions;
            req.vocab_parallel = true;
            states[k - g0] = at::Tensor();
            finish(b, rows[k - g0], model.forward(req, control).logits);
          }
        }
        model.release_layer(l);
      }
      for (size_t k = g0; k < g1; ++k) batches[k].prefix = KVCache();
      g0 = g1;
    }
  }

  out.per_target = per_target;
  return out;
}

Explanation AtMan::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  Communicator* group = ctx.perturbation_group;
  const int share = group ? group->rank() : ctx.perturbation_rank;
  const int shares = group ? group->size() : ctx.perturbation_ranks;
  XAI_CHECK(shares >= 1 && share >= 0 && share < shares, "atman: perturbation share ", share,
            " of ", shares, " is not valid");
  Explanation out;
  if (!group || shares == 1) {
    out = explain_share(model, sample, ctx, share, shares);
  } else {
    // Every member must reach the collectives even when its share failed: the failure travels
    // with the sums, and then every member throws the lowest failing member's message.
    std::string error;
    try {
      out = explain_share(model, sample, ctx, share, shares);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
    const int64_t n = sample.num_targets(), T = sample.size();
    const size_t cells = static_cast<size_t>(std::max<int64_t>(n, 0) * std::max<int64_t>(T, 0));
    std::vector<double> sums(3 + cells, 0.0);
    sums[0] = error.empty() ? 0 : 1;
    if (error.empty()) {
      sums[1] = static_cast<double>(out.cost.forward_passes);
      sums[2] = static_cast<double>(out.cost.sequences);
      at::Tensor pt = out.per_target.contiguous();
      const float* p = pt.data_ptr<float>();
      for (size_t i = 0; i < cells; ++i) sums[3 + i] = p[i];
    }
    // Each (target, position) entry is computed by one member and is an exact 0 on the others,
    // so the float -> double -> float sum reproduces it bit for bit.
    if (ctx.perturbation_device_group) {
      ctx.perturbation_device_group->allreduce_host(sums, ReduceOp::kSum);
    } else {
      group->allreduce(sums, ReduceOp::kSum);
    }
    if (sums[0] > 0) {
      const auto errors = group->allgatherv(error);
      for (size_t r = 0; r < errors.size(); ++r) {
        if (errors[r].empty()) continue;
        if (static_cast<int>(r) == share) throw Error(errors[r]);
        throw Error(str_cat("perturbation group member ", r, ": ", errors[r]));
      }
    }
    at::Tensor per_target = at::empty({n, T}, at::kFloat);
    float* p = per_target.data_ptr<float>();
    for (size_t i = 0; i < cells; ++i) p[i] = static_cast<float>(sums[3 + i]);
    out.per_target = per_target;
    out.cost.forward_passes = static_cast<int64_t>(sums[1]);
    out.cost.sequences = static_cast<int64_t>(sums[2]);
  }
  if (options_.exclude_bos || options_.exclude_predicting ||
      options_.normalize != Normalization::kNone) {
    CommonOptions scoring;  // only the exclusions and normalisation apply to AtMan
    scoring.exclude_bos = options_.exclude_bos;
    scoring.exclude_predicting = options_.exclude_predicting;
    scoring.normalize = options_.normalize;
    out.per_target = finish_scores(out.per_target, sample, scoring);
  }
  out.relevance = aggregate_targets(out.per_target, options_.aggregation);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (group && shares > 1) seconds = group->allreduce_value(seconds, ReduceOp::kMax);
  out.cost.seconds = seconds;
  return out;
}

std::string AtMan::settings() const {
  std::string s = options_.kappa ? str_cat("kappa ", *options_.kappa, " (correlated)")
                                 : std::string("single-token");
  return str_cat(s, ", ", options_.aggregation, " over targets");
}

std::string AtMan::score_sign() const {
  return "the target's cross-entropy with the token suppressed minus without it: > 0 the token "
         "supports the target, < 0 suppressing it makes the target more likely (the relevance, " +
         options_.aggregation + " over targets, " +
         (options_.aggregation == "sum" ? std::string("keeps") : std::string("hides")) +
         " the sign)";
}

std::string AtManOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "atman";
  j["factor"] = factor;
  j["kappa"] = kappa ? nlohmann::ordered_json(*kappa) : nlohmann::ordered_json(nullptr);
  j["neighbour_factor"] = cos_scaled ? "cos_scaled" : "flat";
  j["top_k"] = top_k;
  j["mode"] = mode == SuppressionMode::kShiftedScores ? "shifted_scores" : "log_additive";
  j["minimum_over"] = minimum == ShiftMinimum::kAllKeys ? "all_keys" : "valid_keys";
  j["layers"] = layers;
  j["batch_size"] = batch_size;
  j["aggregation"] = aggregation;
  j["explain_targets"] = explain_targets;
  j["exclude_bos"] = exclude_bos;
  j["exclude_predicting"] = exclude_predicting;
  j["normalize"] = name_of(normalize);
  j["prefix_reuse"] = prefix_reuse;
  j["head_at_targets"] = head_at_targets;
  return j.dump();
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner"): one batch of perturbed rows over the suffix after the
// shared prefix, whose keys and values are kept once. Correlated suppression reuses less prefix.
MemoryNeed AtMan::memory_need(const MemoryQuery& q) const {
  MemoryCoefficients c;
  // Without the fused kernel (bfloat16 weights, a GPU): one block of query rows' float32 scores,
  // their factors, softmax and probabilities (blocked_inference_attention), 4.5 blocks measured
  // with bfloat16 weights (gptj 4x256, T = 512; 3.1 at T = 1024: an overestimate there).
  c.unfused_scores = 4.5;
  // The rest fitted to live tensor bytes (scripts/fit_memory_plan.py, docs/performance.md); `heap`
  // is resident memory per byte of the tensors under the fast host memory's heap threshold.
  // Single-token and correlated suppression peak alike: the clean pass's keys and values of every
  // layer (exactly once: the slope of the tensor peak over 2 and 4 layers), one batch of perturbed
  // rows and its projections, one target row of logits per perturbation.
  c.all_layers = false;
  c.kv_all = 1;
  c.hidden = 1.33;
  c.qkv = 2.14;
  c.scores = 0.0828;
  c.block = 1.74;
  c.logit_rows = 18.8;
  c.heap = 1.5;
  return batched_need(q, c, "batch_size", options_.batch_size, options_.batch_size_given);
}

}  // namespace xai
