// Rotary position embedding frequencies, with Hugging Face's rope_scaling types.
#pragma once

#include <ATen/ATen.h>

#include "framework/model/model_spec.h"

namespace xai {

// (d / 2) float32 inverse frequencies theta^(-2i/d), d = rotary_dims (else head_dim), scaled as
// rope_scaling says
// (default, linear: divided by factor, llama3: per-wavelength blend).
at::Tensor rope_inverse_frequencies(const ModelSpec& spec);

}  // namespace xai
