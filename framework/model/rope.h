// Rotary position embedding frequencies, with Hugging Face's rope_scaling types.
#pragma once

#include <ATen/ATen.h>

#include "framework/model/model_spec.h"

namespace xai {

// (d / 2) float32 inverse frequencies theta^(-2i/d), d = rotary_dims (else head_dim), scaled as
// rope_scaling says
// (default, linear: divided by factor, llama3: per-wavelength blend).
at::Tensor rope_inverse_frequencies(const ModelSpec& spec);

// cos and sin (B, 1, T, d) of positions (B, T) x inv_freq (d / 2), in `dtype`: each angle twice,
// as [a0 .. a(d/2-1), a0 .. a(d/2-1)] (rotate-half) or [a0, a0, a1, a1, ...] (interleaved).
void rotary_tables(const at::Tensor& positions, const at::Tensor& inv_freq, at::ScalarType dtype,
                   at::Tensor& cos, at::Tensor& sin, bool interleaved = false);

// x (B, H, T, Dh) with its first d = cos.size(-1) dimensions rotated and the rest as they are
// (d = Dh: every dimension, as in Llama; GPT-NeoX and GPT-J rotate a share). Rotate-half pairs
// dimension i with i + d/2 (Llama, GPT-NeoX); interleaved pairs 2i with 2i + 1 (GPT-J's
// rotate_every_two).
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                        bool interleaved = false);

}  // namespace xai
