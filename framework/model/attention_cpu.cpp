#include "framework/model/attention_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/common/error.h"

namespace xai {
namespace {

constexpr int64_t kRowBlock = 64;  // query rows per tile: 64 x S floats stays in L2 up to S ~ 2k

// e^x for x <= 0 (arguments of a softmax after its max is subtracted), written so the compiler
// vectorises it: 2^(x log2 e) split into an integer power and a degree-6 polynomial on [-1/2, 1/2]
// (relative error about 2e-7).
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float t = x * 1.44269504088896341f;
  const float n = std::nearbyint(t);
  const float f = (t - n) * 0.693147180559945309f;  // in [-0.347, 0.347]
  float p =
      1.0f +
      f * (1.0f + f * (0.5f + f * (0.166666672f + f * (0.0416666679f + f * (0.00833333377f +
                                                                            f * 0.00138888892f)))));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

struct RowParams {
  int64_t lo, hi;        // visible causal/window range [lo, hi) of key positions
  int64_t columns;       // columns present in the row buffer (>= hi)
  const float* f;        // key factors (S) or null
  const float* log_f;    // log key factors (S) or null
  const uint8_t* valid;  // key validity (S) or null
};

// Turns one row of raw scores q.k into attention probabilities in place; columns >= hi become 0.
__attribute__((target_clones("avx2", "default"))) void softmax_row(float* x, const RowParams& r,
                                                                   double scale_d,
                                                                   SuppressionMode mode,
                                                                   ShiftMinimum minimum,
                                                                   bool suppress) {
  const float scale = static_cast<float>(scale_d);
  const float masked = -1e30f;
  if (suppress && mode == SuppressionMode::kShiftedScores) {
    float m = std::numeric_limits<float>::infinity();
    if (minimum == ShiftMinimum::kAllKeys) {
      for (int64_t k = 0; k < r.columns; ++k) m = std::min(m, x[k]);
    } else {
      for (int64_t k = r.lo; k < r.hi; ++k) {
        if (!r.valid || r.valid[k]) m = std::min(m, x[k]);
      }
    }
    for (int64_t k = r.lo; k < r.hi; ++k) x[k] = r.f[k] * (x[k] - m) * scale;
  } else if (suppress) {
    for (int64_t k = r.lo; k < r.hi; ++k) x[k] = x[k] * scale + r.log_f[k];
  } else {
    for (int64_t k = r.lo; k < r.hi; ++k) x[k] *= scale;
  }
  if (r.valid) {
    for (int64_t k = r.lo; k < r.hi; ++k) x[k] = r.valid[k] ? x[k] : masked;
  }
  float mx = masked;
  for (int64_t k = r.lo; k < r.hi; ++k) mx = std::max(mx, x[k]);
  if (mx <= masked) {  // no visible key (a padding query): an all-zero row, never NaN
    std::fill(x, x + r.columns, 0.0f);
    return;
  }
  float sum = 0;
  for (int64_t k = r.lo; k < r.hi; ++k) {
    x[k] = exp_nonpositive(x[k] - mx);
    sum += x[k];
  }
  const float inv = 1.0f / sum;
  for (int64_t k = r.lo; k < r.hi; ++k) x[k] *= inv;
  std::fill(x, x + r.lo, 0.0f);
  std::fill(x + r.hi, x + r.columns, 0.0f);
}

}  // namespace

at::Tensor fused_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               int64_t G, const FusedAttentionArgs& a) {
  const int64_t B = q.size(0), Hkv = q.size(1), GT = q.size(2), S = k.size(2);
  const int64_t T = GT / G;
  XAI_CHECK(
      q.is_contiguous() && k.is_contiguous() && v.is_contiguous() && q.scalar_type() == at::kFloat,
      "fused_attention_cpu: contiguous float32 inputs required");
  at::Tensor out = at::empty_like(q);  // (B, Hkv, G*T, Dh)
  const bool suppress = a.key_factors.defined();
  at::Tensor factors, log_factors;
  if (suppress) {
    factors = a.key_factors.to(at::kFloat).contiguous();
    log_factors = at::where(factors.gt(0), factors.log(), at::full({}, -1e4f)).contiguous();
  }
  at::Tensor valid = a.key_valid.defined() ? a.key_valid.to(at::kByte).contiguous() : at::Tensor();
  // With the paper's minimum over all keys, a row needs the scores of every key (even future
  // ones) for its minimum; otherwise only the keys it can see are computed.
  const bool all_columns =
      suppress && a.mode == SuppressionMode::kShiftedScores && a.minimum == ShiftMinimum::kAllKeys;
  const int64_t row_blocks = (T + kRowBlock - 1) / kRowBlock;
  const int64_t tasks = B * Hkv * G * row_blocks;

  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> tile_buf(static_cast<size_t>(kRowBlock * S));
    for (int64_t task = begin; task < end; ++task) {
      int64_t rest = task;
      const int64_t blk = rest % row_blocks;
      rest /= row_blocks;
      const int64_t g = rest % G;
      rest /= G;
      const int64_t kvh = rest % Hkv;
      const int64_t b = rest / Hkv;
      const int64_t t0 = blk * kRowBlock, rows = std::min(kRowBlock, T - t0);
      const int64_t last_q = a.past_len + t0 + rows - 1;
      const int64_t cols = all_columns ? S : std::min(S, last_q + 1);

      at::Tensor qb = q[b][kvh].narrow(0, g * T + t0, rows);  // (rows, Dh)
      at::Tensor kb = k[b][kvh].narrow(0, 0, cols);           // (cols, Dh)
      at::Tensor vb = v[b][kvh].narrow(0, 0, cols);
      at::Tensor tile = at::from_blob(tile_buf.data(), {rows, cols});
      at::mm_out(tile, qb, kb.t());  // raw scores q.k

      RowParams r;
      r.columns = cols;
      r.f = suppress ? factors.data_ptr<float>() + (factors.size(0) == 1 ? 0 : b) * S : nullptr;
      r.log_f =
          suppress ? log_factors.data_ptr<float>() + (factors.size(0) == 1 ? 0 : b) * S : nullptr;
      r.valid = valid.defined() ? valid.data_ptr<uint8_t>() + b * S : nullptr;
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t q_abs = a.past_len + t0 + i;
        r.hi = q_abs + 1;
        r.lo = a.window ? std::max<int64_t>(0, q_abs - *a.window + 1) : 0;
        softmax_row(tile_buf.data() + i * cols, r, a.scale, a.mode, a.minimum, suppress);
      }
      at::Tensor ob = out[b][kvh].narrow(0, g * T + t0, rows);  // (rows, Dh)
      at::mm_out(ob, tile, vb);
    }
  });
  return out;
}

}  // namespace xai
