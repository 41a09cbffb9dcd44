#include "framework/model/memory.h"

namespace xai {

MemoryEstimate estimate_memory(const ModelSpec& s, int64_t bytes, int64_t B, int64_t T) {
  MemoryEstimate m;
  m.weights = s.num_parameters() * bytes;
  // Scores are accumulated in float32: logits plus softmax output, plus the (B, H, T, Dh) output.
  m.attention_scores = 2 * B * s.num_heads * T * T * 4 + B * s.num_heads * T * s.head_dim * bytes;
  // SwiGLU keeps gate, up and their product; GELU keeps the pre-activation and its output.
  m.mlp = (s.family == Family::kLlama ? 3 : 2) * B * T * s.intermediate_size * bytes;
  // Residual, normalised input, Q/K/V projections and the attention projection.
  m.hidden = 6 * B * T * s.hidden_size * bytes;
  m.kv_cache = 2 * s.num_layers * B * T * s.num_kv_heads * s.head_dim * bytes;
  m.logits = B * s.vocab_size * 4;
  return m;
}

}  // namespace xai
