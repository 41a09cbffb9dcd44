// Differentiable attention that never stores a (B, H, T, S) tensor: the forward runs over blocks
// of query rows and keeps only q, k, v and the output; the backward recomputes each block's
// probabilities from q and k. Activation memory per layer is O(B H T Dh) instead of O(B H T S),
// which is what gradient explainers (IG's batched steps, IxG, AttnLRP) pay for at long inputs,
// for about one more q k^T and softmax per backward. Same values as the written-out
// softmax(q k^T * scale + mask) v.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "framework/model/model.h"

namespace xai {

// q (B, H, T, Dh), k and v (B, H, S, Dh) (grouped-query heads already expanded), mask (B or 1, 1,
// T, S) float additive (0 = visible, very negative = masked; a row with no visible key gives a
// uniform row, as the written-out softmax does). Scores and softmax in float32 whatever the
// inputs' dtype. Returns (B, H, T, Dh) in v's dtype. Gradients flow to q, k and v; first order
// only. `rows_per_block` 0 picks blocks of about 16 MB of scores (tests pass small ones).
// `grad_sink`, when set, is called by the backward once per block of query rows [row0, row0 +
// rows) with the block's probabilities P and their gradient dL/dP, both (B, H, rows, c) float32
// over the block's first c keys (P is exactly 0 on the later ones, c <= S): what Chefer's
// gradient-weighted maps need, without a (B, H, T, S) tensor kept from the forward.
using ProbsGradSink =
    std::function<void(int64_t row0, const at::Tensor& probs, const at::Tensor& grad_probs)>;

at::Tensor block_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& mask, double scale, int64_t rows_per_block = 0,
                           ProbsGradSink grad_sink = {});

// The softmax's input for raw scores q k^T (B, H, rows, S) float32 under AtMan's per-key factors
// (B or 1, S) (undefined: none): shifted scores (paper) or log-additive, then the additive mask.
// `allowed` (B or 1, 1, rows, S) bool is read by ShiftMinimum::kValidKeys only.
at::Tensor controlled_scores(const at::Tensor& raw, const at::Tensor& factors, SuppressionMode mode,
                             ShiftMinimum minimum, const at::Tensor& mask,
                             const at::Tensor& allowed, double scale);

// Attention without gradients over blocks of query rows: one block's (B, H, rows, S) float32
// scores at a time instead of the layer's (B, H, T, S), for every device and dtype (the GPU, and
// bfloat16 on the CPU, where the fused float32 kernel does not apply). q (B, Hkv, G * T, Dh) with
// the G query heads of each key/value head folded into the rows (as attend() holds them), k and v
// (B, Hkv, S, Dh), mask and allowed (B or 1, 1, T, S). Scores, factors and softmax in float32;
// returns (B, Hkv * G, T, Dh) in v's dtype. The same numbers as the written-out path; keys that
// no row of a block sees are skipped, except under shifted scores over all keys (whose row
// minimum reads them). `rows_per_block` 0: blocks of about 32 MB of scores.
at::Tensor blocked_inference_attention(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, int64_t groups, const at::Tensor& mask,
                                       const at::Tensor& allowed, const at::Tensor& factors,
                                       SuppressionMode mode, ShiftMinimum minimum, double scale,
                                       int64_t rows_per_block = 0);

// Per block of `rows` query rows (the last one may be shorter), how many leading keys the block
// computes: one past the last key any of its rows sees under `mask`, or S when one of its rows
// sees none. Causal masks make the blocks skip about half of the keys at S = T. For tests.
std::vector<int64_t> block_attention_columns(const at::Tensor& mask, int64_t T, int64_t S,
                                             int64_t rows);

}  // namespace xai
