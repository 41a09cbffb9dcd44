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

// Per block of `rows` query rows (the last one may be shorter), how many leading keys the block
// computes: one past the last key any of its rows sees under `mask`, or S when one of its rows
// sees none. Causal masks make the blocks skip about half of the keys at S = T. For tests.
std::vector<int64_t> block_attention_columns(const at::Tensor& mask, int64_t T, int64_t S,
                                             int64_t rows);

}  // namespace xai
