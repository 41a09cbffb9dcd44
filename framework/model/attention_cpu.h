// Inference-only attention on CPU, fused per block of query rows: scores, AtMan control, causal /
// window / padding mask and softmax happen on a cache-sized tile, and only the key columns a row
// can see take part in the softmax and the value product. No (B, H, T, S) tensor is ever
// materialised, so memory stays at one tile per thread.
#pragma once

#include <ATen/ATen.h>

#include <optional>

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
};

// q (B, Hkv, G*T, Dh) with query head h = kv * G + g at rows g*T + t; k, v (B, Hkv, S, Dh); all
// float32, contiguous, CPU. Returns (B, Hkv, G*T, Dh).
at::Tensor fused_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               int64_t G, const FusedAttentionArgs& args);

}  // namespace xai
