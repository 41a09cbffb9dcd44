#include "framework/model/attention_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "framework/common/error.h"

namespace xai {
namespace {

constexpr int64_t kRowBlock = 64;  // query rows per tile: 64 x S floats stays in L2 up to S ~ 2k

struct RowParams {
  int64_t lo, hi;        // visible causal/window range [lo, hi) of key positions
  int64_t columns;       // columns present in the row buffer (>= hi)
  const float* f;        // key factors (S) or null
  const float* log_f;    // log key factors (S) or null
  const uint8_t* valid;  // key validity (S) or null
};

namespace baseline {
#include "framework/model/softmax_row.inc"
}  // namespace baseline

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XAI_HAVE_AVX2_KERNEL 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
#include "framework/model/softmax_row.inc"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

using RowKernel = void (*)(float*, const RowParams&, double, SuppressionMode, ShiftMinimum, bool);

// AVX2 when the CPU has it; XAI_CPU_KERNEL=baseline forces the portable one (tests run both).
RowKernel row_kernel() {
  const char* force = std::getenv("XAI_CPU_KERNEL");
  if (force != nullptr && std::string(force) == "baseline") return baseline::softmax_row;
#ifdef XAI_HAVE_AVX2_KERNEL
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return avx2::softmax_row;
#endif
  return baseline::softmax_row;
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

  const RowKernel kernel = row_kernel();
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
        kernel(tile_buf.data() + i * cols, r, a.scale, a.mode, a.minimum, suppress);
      }
      at::Tensor ob = out[b][kvh].narrow(0, g * T + t0, rows);  // (rows, Dh)
      at::mm_out(ob, tile, vb);
    }
  });
  return out;
}

}  // namespace xai
