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

MemoryEstimate estimate_memory(const ModelSpec& spec, int64_t weight_bytes_per_element,
                               int64_t batch, int64_t seq_len);

}  // namespace xai
