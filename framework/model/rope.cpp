#include "framework/model/rope.h"

#include <cmath>

#include "framework/common/error.h"

namespace xai {

at::Tensor rope_inverse_frequencies(const ModelSpec& spec) {
  const int64_t d = spec.rotary_dims > 0 ? spec.rotary_dims : spec.head_dim;
  // Same arithmetic as transformers: float32 exponent, float32 power.
  at::Tensor exponent = at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<float>(d);
  at::Tensor inv_freq = 1.0 / at::pow(static_cast<float>(spec.rope_theta), exponent);
  const RopeScaling& rs = spec.rope_scaling;
  if (rs.type == "default") return inv_freq;
  if (rs.type == "linear") return inv_freq / rs.factor;
  if (rs.type == "llama3") {
    const double old_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_len / rs.low_freq_factor;
    const double high_wavelen = old_len / rs.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    at::Tensor smooth =
        (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium = wavelen.ge(high_wavelen).logical_and(wavelen.le(low_wavelen));
    return at::where(medium, smoothed, scaled);
  }
  throw Error(str_cat(spec.source, ": rope_scaling type '", rs.type, "' is not supported"));
}

void rotary_tables(const at::Tensor& positions, const at::Tensor& inv_freq, at::ScalarType dtype,
                   at::Tensor& cos, at::Tensor& sin, bool interleaved) {
  const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // (B, T, d/2)
  const at::Tensor emb =
      (interleaved ? at::stack({angles, angles}, -1).flatten(-2) : at::cat({angles, angles}, -1))
          .unsqueeze(1);  // (B, 1, T, d)
  cos = emb.cos().to(dtype);
  sin = emb.sin().to(dtype);
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                        bool interleaved) {
  const int64_t d = cos.size(-1), half = d / 2;
  const at::Tensor r = d == x.size(-1) ? x : x.slice(-1, 0, d);
  const at::Tensor rotated =
      interleaved ? at::stack({-r.slice(-1, 1, d, 2), r.slice(-1, 0, d, 2)}, -1).flatten(-2)
                  : at::cat({-r.slice(-1, half), r.slice(-1, 0, half)}, -1);
  const at::Tensor out = r * cos + rotated * sin;
  return d == x.size(-1) ? out : at::cat({out, x.slice(-1, d)}, -1);
}

}  // namespace xai
