// Rotary position embedding frequencies, with Hugging Face's rope_scaling types.
#pragma once

#include <ATen/ATen.h>

#include "framework/model/model_spec.h"

namespace xai {

// (d / 2) float32 inverse frequencies theta^(-2i/d), d = rotary_dims (else head_dim), scaled as
// rope_scaling says
// (default, linear: divided by factor, llama3: per-wavelength blend).
at::Tensor rope_inverse_frequencies(const ModelSpec& spec);

// cos and sin (B, 1, T, d) of positions (B, T) x inv_freq (d / 2), in the rotate-half layout
// (each angle twice), in `dtype`.
void rotary_tables(const at::Tensor& positions, const at::Tensor& inv_freq, at::ScalarType dtype,
                   at::Tensor& cos, at::Tensor& sin);

// x (B, H, T, Dh) with its first d = cos.size(-1) dimensions rotated (rotate-half within them) and
// the rest as they are (d = Dh: every dimension, as in Llama; GPT-NeoX rotates a share).
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace xai
