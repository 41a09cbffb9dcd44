// Back-of-envelope memory for a model: weights, and the transient activations of one inference
// forward pass (no autograd graph), so a user can size a batch before running.
#pragma once

#include <cstdint>

#include "framework/model/model_spec.h"

namespace xai {

struct MemoryEstimate {
  int64_t weights = 0;                  // bytes of all parameters at the weight dtype
  int64_t attention_scores = 0;         // one layer's (B, H, T, T) float logits + probabilities
  int64_t mlp = 0;                      // one layer's (B, T, F) intermediates
  int64_t hidden = 0;                   // residual stream and block temporaries, (B, T, D)
  int64_t kv_cache = 0;                 // K and V of every layer, if kept (prefix reuse)
  int64_t logits = 0;                   // (B, V) float at the last position
  int64_t forward_peak_extra() const {  // beyond the weights, without a kept K/V cache
    return attention_scores + mlp + hidden + logits;
  }
};

// The memory planner's units (framework/run/memory_plan.h): bytes for one sequence of T tokens
// (one batch row) of this model, with activations of act_bytes per element. Each explainer states
// its need as a combination of them (Explainer::memory_need), with coefficients measured on
// synthetic models of four shapes (docs/performance.md).
struct ActivationBasis {
  int64_t layers = 0;
  int64_t tokens = 0;  // T
  double hidden = 0;   // T x D: one layer's residual-stream width
  double mlp = 0;      // T x F, x 1.5 for a gated MLP (gate, up and their product)
  double qkv = 0;      // T x (H + 2 Hkv) x Dh: one layer's query, key and value projections
  double scores = 0;   // H x T x T x 4: one layer's float32 attention map
  double square = 0;   // T x T x 4: one (T, T) float32 matrix (masks, relevance maps)
  int64_t heads = 0;
  // Whether an inference forward runs the fused CPU attention kernel (float32 on the CPU), which
  // never writes out a (B, H, T, S) map; otherwise it runs over blocks of query rows
  // (blocked_inference_attention), whose scores, float32 softmax and probabilities exist at once
  // for one block (see unfused_scores in methods/explainer.h and inference_block below).
  bool fused_attention = true;
  // Tensors smaller than this come from the C library's heap, where freed blocks stay resident in
  // holes: the planner counts them times the method's heap factor (MemoryCoefficients::heap).
  // host_mmap_threshold (framework/common/host_memory.h): 8 MB; 0 (none) with
  // runtime.host_memory: compact and off the CPU.
  double heap_threshold = 8.0 * (1 << 20);
  double kv = 0;         // 2 x T x Hkv x Dh: one layer's keys and values
  double logit_row = 0;  // V x 4: one position's float32 logits
  // One layer's footprint per row, counted in the family's D- and F-wide vectors per token: what
  // an inference forward holds while the layer runs (LayerNorm families 8 D + 2 F, SwiGLU
  // families 8 D + 3 F; LayerNorm families with rotary add three copies of the rotated share of
  // the queries and keys), and what a backward keeps of it, measured exactly (memory.cpp: GPT-2
  // 6 D + F, GPT-NeoX and GPT-J 5 D + F, Llama 8 D + 3 F).
  double forward = 0;
  double graph = 0;
  // The scores of one block of query rows in the blockwise attention of a backward over `rows`
  // sequences (framework/model/block_attention.cpp: at most 16 MiB, at least 16 rows, at most
  // an eighth of the map).
  double block(int64_t rows) const;
  // The float32 scores of one block of query rows in an inference forward over `rows` sequences
  // without the fused kernel (block_attention.cpp: about 32 MiB, at least 16 rows, at most the
  // whole map).
  double inference_block(int64_t rows) const;
};

ActivationBasis activation_basis(const ModelSpec& spec, int64_t act_bytes, int64_t T);

MemoryEstimate estimate_memory(const ModelSpec& spec, int64_t weight_bytes_per_element,
                               int64_t batch, int64_t seq_len);

}  // namespace xai
