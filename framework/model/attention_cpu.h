// Inference-only attention on CPU, fused per block of query rows: scores, AtMan control, causal /
// window / padding mask and softmax happen on a cache-sized tile, and only the key columns a row
// can see take part in the softmax and the value product. No (B, H, T, S) tensor is ever
// materialised, so memory stays at one tile per thread.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "framework/model/model.h"

namespace xai {

struct FusedAttentionArgs {
  int64_t past_len = 0;  // queries are positions past_len .. past_len + T - 1
  double scale = 1.0;
  at::Tensor key_factors;  // (B or 1, S) float32, undefined = none
  SuppressionMode mode = SuppressionMode::kShiftedScores;
  ShiftMinimum minimum = ShiftMinimum::kAllKeys;
  at::Tensor key_valid;           // (B, S) bool, undefined = every key real
  std::optional<int64_t> window;  // sliding window: key k visible from q when q - k < window
  bool causal = true;             // false: every query sees every (real) key (an encoder)
};

// q (B, Hkv, G*T, Dh) with query head h = kv * G + g at rows g*T + t; k, v (B, Hkv, S, Dh); all
// float32, contiguous, CPU. Returns (B, Hkv, G*T, Dh).
at::Tensor fused_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               int64_t G, const FusedAttentionArgs& args);

// The same attention written out with whole-tensor ops: batched matmuls (one BLAS call over every
// head) and a (B, Hkv, G*T, S) score tensor. The same numbers as fused_attention_cpu up to
// rounding (a row that sees no key is 0, a NaN score poisons its row); which of the two is faster
// depends on the CPU, its BLAS and the shape.
at::Tensor unfused_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 int64_t G, const FusedAttentionArgs& args);

// Inference attention on the CPU through whichever of the two is faster for this shape on this
// machine: the first time the machine meets a shape class (batch, heads, query rows and keys
// rounded up to powers of two, whether keys are suppressed, the thread count) both are timed on a
// proxy of that class (one batch row, up to 4 heads: the work per head is what differs). The
// unfused path must be 15% faster to be chosen; a proxy under 0.25 ms is not timed against it
// (fused). The choice is kept in the machine's choices file (XAI_ATTENTION_CHOICES, default
// $XDG_CACHE_HOME or ~/.cache, then xai/attention-kernels.tsv; `off`: per process), read and
// appended under a file lock: the two kernels differ in rounding (~1e-7 relative), and a choice
// timed anew by each process would let load decide which bits a run, its other ranks or its
// resume compute. Delete the file to time again. XAI_ATTENTION_KERNEL=fused|unfused forces one.
at::Tensor inference_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   int64_t G, const FusedAttentionArgs& args);

// The choices made so far in this process, for reports: one entry per shape class, e.g.
// {"class": "B8 H12 T256 S256 suppressed", "kernel": "fused", "fused_ms": 1.9, "unfused_ms": 2.4}.
struct AttentionChoice {
  std::string shape_class;
  std::string kernel;                   // "fused" | "unfused"
  double fused_ms = 0, unfused_ms = 0;  // the proxy's best time of each; 0 = not timed
  bool from_file = false;               // taken from the machine's choices file, not timed
};
std::vector<AttentionChoice> attention_choices();
// Forgets this process's choices (tests: the next call of a class reads the file again).
void forget_attention_choices();

}  // namespace xai
