#include "framework/model/memory.h"

#include <algorithm>

#include "framework/model/family.h"

namespace xai {

MemoryEstimate estimate_memory(const ModelSpec& s, int64_t bytes, int64_t B, int64_t T) {
  MemoryEstimate m;
  m.weights = s.num_parameters() * bytes;
  // Scores are accumulated in float32: logits plus softmax output, plus the (B, H, T, Dh) output.
  m.attention_scores = 2 * B * s.num_heads * T * T * 4 + B * s.num_heads * T * s.head_dim * bytes;
  // SwiGLU keeps gate, up and their product; GELU keeps the pre-activation and its output.
  m.mlp = (family_row(s.family).gated_mlp ? 3 : 2) * B * T * s.intermediate_size * bytes;
  // Residual, normalised input, Q/K/V projections and the attention projection.
  m.hidden = 6 * B * T * s.hidden_size * bytes;
  m.kv_cache = 2 * s.num_layers * B * T * s.num_kv_heads * s.head_dim * bytes;
  m.logits = B * s.output_size() * 4;  // a classifier: its classes
  return m;
}

double ActivationBasis::block(int64_t rows) const {
  const double r = static_cast<double>(rows), t = static_cast<double>(tokens);
  return std::min(r * scores / 8.0,
                  std::max(16.0 * (1 << 20), r * static_cast<double>(heads) * 16.0 * t * 4.0));
}

double ActivationBasis::inference_block(int64_t rows) const {
  const double r = static_cast<double>(rows), t = static_cast<double>(tokens);
  return std::min(r * scores,
                  std::max(32.0 * (1 << 20), r * static_cast<double>(heads) * 16.0 * t * 4.0));
}

ActivationBasis activation_basis(const ModelSpec& s, int64_t e, int64_t T) {
  ActivationBasis b;
  const double t = static_cast<double>(T), bytes = static_cast<double>(e);
  b.layers = s.num_layers;
  b.tokens = T;
  b.hidden = t * static_cast<double>(s.hidden_size) * bytes;
  const bool gated = family_row(s.family).gated_mlp;  // SwiGLU
  b.mlp = t * static_cast<double>(s.intermediate_size) * bytes * (gated ? 1.5 : 1.0);
  b.qkv = t * static_cast<double>((s.num_heads + 2 * s.num_kv_heads) * s.head_dim) * bytes;
  b.scores = static_cast<double>(s.num_heads) * t * t * 4.0;
  b.square = t * t * 4.0;
  b.fused_attention = e == 4;  // the planner clears it off the CPU
  b.heads = s.num_heads;
  b.kv = 2.0 * t * static_cast<double>(s.num_kv_heads * s.head_dim) * bytes;
  b.logit_row = static_cast<double>(s.output_size()) * 4.0;
  const double D = static_cast<double>(s.hidden_size), F = static_cast<double>(s.intermediate_size);
  const double q = static_cast<double>(s.num_heads * s.head_dim);
  const double k = static_cast<double>(s.num_kv_heads * s.head_dim);
  // What a backward keeps of a layer, per token, counted exactly with the tensor yardstick
  // (MemoryMeter: the slope of a saliency explanation's tensor peak over 2 and 4 layers at two MLP
  // widths, T = 129 and 513): GPT-2 6 D + F; GPT-NeoX and GPT-J 5 D + F; Llama 8 D + 3 F with
  // as many key/value heads as heads, its queries, keys and values counted by their widths (and,
  // with grouped-query attention, the keys and values expanded to every head).
  if (gated) {
    b.graph = t * (5 * D + q + 2 * k + 3 * F + (k < q ? 2 * q : 0)) * bytes;
  } else if (family_row(s.family).learned_positions) {
    // Of GPT-2's 6 D, the queries, keys, values and the heads' output are head-sized (q = D on
    // one rank; a tensor-parallel rank's share of them: the planner's local spec).
    b.graph = t * (2 * D + 4 * q + F) * bytes;
  } else {
    b.graph = t * (D + 4 * q + F) * bytes;
  }
  if (gated) {
    b.forward = t * (8 * D + 3 * F) * bytes;
  } else {
    // Rotary families (GPT-NeoX, GPT-J) hold the rotated queries and keys as three copies each
    // (x cos, the rotated x, its sin term), over the rotated share of each head.
    const double rotated =
        family_row(s.family).learned_positions ? 0.0
        : s.rotary_dims > 0 ? static_cast<double>(s.rotary_dims) / static_cast<double>(s.head_dim)
                            : 1.0;
    const double rope = 3 * rotated * (q + k);
    b.forward = t * (8 * D + 2 * F + rope) * bytes;
  }
  return b;
}

}  // namespace xai
