#include "framework/model/attention_cpu.h"

#include <ATen/Parallel.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
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
  const bool all_columns = !a.causal || (suppress && a.mode == SuppressionMode::kShiftedScores &&
                                         a.minimum == ShiftMinimum::kAllKeys);
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
        r.hi = a.causal ? q_abs + 1 : S;
        r.lo = a.window ? std::max<int64_t>(0, q_abs - *a.window + 1) : 0;
        kernel(tile_buf.data() + i * cols, r, a.scale, a.mode, a.minimum, suppress);
      }
      at::Tensor ob = out[b][kvh].narrow(0, g * T + t0, rows);  // (rows, Dh)
      at::mm_out(ob, tile, vb);
    }
  });
  return out;
}

namespace {

// Score bytes one chunk of the unfused path may hold: a few chunks' worth of (rows, S) float32
// per head, so its memory stays near the fused path's instead of B * H * T * S floats.
constexpr int64_t kUnfusedChunkBytes = 16 << 20;

}  // namespace

at::Tensor unfused_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 int64_t G, const FusedAttentionArgs& a) {
  const int64_t B = q.size(0), Hkv = q.size(1), GT = q.size(2), Dh = q.size(3), S = k.size(2);
  const int64_t T = GT / G;
  const bool suppress = a.key_factors.defined();
  const bool shifted = suppress && a.mode == SuppressionMode::kShiftedScores;
  // Which keys each query row sees: causal (key s <= past_len + t), within the window, real.
  const at::Tensor qpos = at::arange(a.past_len, a.past_len + T, at::kLong).view({T, 1});
  const at::Tensor kpos = at::arange(S, at::kLong).view({1, S});
  at::Tensor seen = a.causal ? kpos.le(qpos) : at::ones({T, S}, at::kBool);  // (T, S)
  if (a.window) seen = seen.logical_and(qpos.sub(kpos).lt(*a.window));
  seen = seen.repeat({G, 1});  // (GT, S): rows g*T + t
  // (B or 1, GT, S): 0 where a row sees the key, -1e30 where not (finite: a row that sees no key
  // is uniform after the softmax, then zeroed below, as the fused kernel leaves it).
  at::Tensor allowed = seen.unsqueeze(0);
  if (a.key_valid.defined()) {
    allowed = allowed.logical_and(a.key_valid.to(at::kBool).view({B, 1, S}));
  }
  const at::Tensor blocked = allowed.logical_not();
  const at::Tensor additive = at::zeros(allowed.sizes(), at::kFloat).masked_fill_(blocked, -1e30f);
  const at::Tensor blind = blocked.all(-1, /*keepdim=*/true);  // (B or 1, GT, 1)
  const bool any_blind = blind.any().item<bool>();
  at::Tensor factors, log_factors;  // (B or 1, 1, S)
  if (suppress) {
    factors = a.key_factors.to(at::kFloat).view({-1, 1, S});
    log_factors = at::where(factors.gt(0), factors.log(), at::full({}, -1e4f));
  }
  const float scale = static_cast<float>(a.scale);
  auto row = [](const at::Tensor& t, int64_t b) { return t[t.size(0) == 1 ? 0 : b]; };

  at::Tensor out = at::empty_like(q);  // (B, Hkv, GT, Dh)
  const at::Tensor q3 = q.view({B * Hkv, GT, Dh}), k3 = k.view({B * Hkv, S, Dh});
  const at::Tensor v3 = v.view({B * Hkv, S, Dh});
  at::Tensor out3 = out.view({B * Hkv, GT, Dh});
  // One batch row's heads at a time (its factors and padding are its own), at most
  // kUnfusedChunkBytes of scores: memory stays near the fused kernel's.
  const int64_t heads = std::clamp<int64_t>(kUnfusedChunkBytes / (GT * S * 4), 1, Hkv);
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor bias = row(additive, b);  // (GT, S)
    if (suppress && !shifted) bias = bias + row(log_factors, b);
    const at::Tensor scaled_f = shifted ? row(factors, b) * scale : at::Tensor();  // (1, S)
    for (int64_t h0 = 0; h0 < Hkv; h0 += heads) {
      const int64_t n = std::min(heads, Hkv - h0), i0 = b * Hkv + h0;
      const at::Tensor qb = q3.narrow(0, i0, n), kt = k3.narrow(0, i0, n).transpose(1, 2);
      at::Tensor logits;  // (n, GT, S)
      if (shifted) {
        logits = at::bmm(qb, kt);
        const at::Tensor m =
            a.minimum == ShiftMinimum::kAllKeys
                ? logits.amin(-1, true)
                : logits.masked_fill(row(blocked, b), std::numeric_limits<float>::infinity())
                      .amin(-1, true);
        logits.sub_(m).mul_(scaled_f).add_(bias);
      } else {
        logits = at::baddbmm(bias.expand({n, GT, S}), qb, kt, /*beta=*/1, /*alpha=*/scale);
      }
      at::Tensor probs = at::softmax(logits, -1);
      if (any_blind) probs.masked_fill_(row(blind, b), 0.0f);
      at::Tensor dst = out3.narrow(0, i0, n);
      at::bmm_out(dst, probs, v3.narrow(0, i0, n));
    }
  }
  return out;
}

namespace {

int64_t round_up_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

struct Calibration {
  std::mutex mu;
  std::map<std::string, AttentionChoice> choices;
  std::vector<std::string> order;
};

Calibration& calibration() {
  static Calibration c;
  return c;
}

// A proxy under this many milliseconds on the fused kernel is not timed against the unfused one.
constexpr double kCalibrateAboveMs = 0.25;
// The unfused path is chosen only when it is this much faster (no flip-flop on noise).
constexpr double kUnfusedMargin = 1.15;

// Best of a few runs, in milliseconds.
template <typename Fn>
double best_ms(Fn&& fn, int reps) {
  fn();  // warm-up: first-touch of buffers, BLAS set-up
  double best = std::numeric_limits<double>::max();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// Times both kernels on a proxy of the call: one batch row, up to 4 query heads, the same rows,
// keys, head size, group and options. The unfused path must beat the fused one by 15% to be
// chosen, so that two processes on one machine do not flip between them on noise.
AttentionChoice calibrate(const std::string& cls, const at::Tensor& q, const at::Tensor& k,
                          int64_t G, const FusedAttentionArgs& a) {
  const int64_t GT = q.size(2), Dh = q.size(3), S = k.size(2);
  const int64_t hkv = std::max<int64_t>(1, std::min<int64_t>(q.size(1), 4 / G));
  const at::Tensor pq = at::randn({1, hkv, GT, Dh}) * 0.3, pk = at::randn({1, hkv, S, Dh}) * 0.3;
  const at::Tensor pv = at::randn({1, hkv, S, Dh});
  FusedAttentionArgs pa = a;
  if (a.key_factors.defined()) {
    pa.key_factors = at::ones({1, S});
    pa.key_factors[0][S / 2] = 0.1f;
  }
  if (a.key_valid.defined()) pa.key_valid = at::ones({1, S}, at::kBool);
  AttentionChoice c;
  c.shape_class = cls;
  const int reps = 3;
  c.fused_ms = best_ms([&] { fused_attention_cpu(pq, pk, pv, G, pa); }, reps);
  c.kernel = "fused";
  // Too little work for the choice to matter, and too little to time reliably: the fused kernel
  // (the proxy's two timings would differ by noise, and processes would differ in rounding).
  if (c.fused_ms < kCalibrateAboveMs) return c;
  c.unfused_ms = best_ms([&] { unfused_attention_cpu(pq, pk, pv, G, pa); }, reps);
  if (c.unfused_ms * kUnfusedMargin < c.fused_ms) c.kernel = "unfused";
  return c;
}

std::string attention_choices_path() {
  const char* set = std::getenv("XAI_ATTENTION_CHOICES");
  if (set != nullptr && *set != 0) return std::string(set) == "off" ? "" : set;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && *xdg != 0) return std::string(xdg) + "/xai/attention-kernels.tsv";
  if (home != nullptr && *home != 0) return std::string(home) + "/.cache/xai/attention-kernels.tsv";
  return "";
}

// The machine's choice for a shape class: read from the choices file when some process already
// made it, else timed here (`time`) and appended, all under an exclusive lock of the file, so
// every process on the machine (runs, their ranks, resumes, reruns) computes with the same kernel
// and gives the same bits. Without a usable file: timed here, for this process only.
template <typename Time>
AttentionChoice machine_choice(const std::string& cls, Time&& time) {
  const std::string path = attention_choices_path();
  if (path.empty()) return time();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return time();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }  // also releases the lock
  } closer{fd};
  if (::flock(fd, LOCK_EX) != 0) return time();
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  // Lines "<class>\t<kernel>"; the last one for a class wins (a hand edit appended later).
  std::string found;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    const size_t tab = line.find('\t');
    if (tab != std::string::npos && line.compare(0, tab, cls) == 0 && tab == cls.size()) {
      const std::string k = line.substr(tab + 1);
      if (k == "fused" || k == "unfused") found = k;
    }
    at = end + 1;
  }
  if (!found.empty()) {
    AttentionChoice c;
    c.shape_class = cls;
    c.kernel = found;
    c.from_file = true;
    return c;
  }
  AttentionChoice c = time();
  const std::string line = cls + "\t" + c.kernel + "\n";
  if (::lseek(fd, 0, SEEK_END) >= 0) {
    [[maybe_unused]] const ssize_t w = ::write(fd, line.data(), line.size());
  }
  return c;
}

}  // namespace

void forget_attention_choices() {
  Calibration& cal = calibration();
  std::lock_guard<std::mutex> lock(cal.mu);
  cal.choices.clear();
  cal.order.clear();
}

at::Tensor inference_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   int64_t G, const FusedAttentionArgs& a) {
  const char* force = std::getenv("XAI_ATTENTION_KERNEL");
  if (force != nullptr && std::string(force) == "fused") return fused_attention_cpu(q, k, v, G, a);
  if (force != nullptr && std::string(force) == "unfused") {
    return unfused_attention_cpu(q, k, v, G, a);
  }
  const int64_t B = q.size(0), H = q.size(1) * G, T = q.size(2) / G, S = k.size(2);
  const std::string cls =
      str_cat("B", round_up_pow2(B), " H", H, " G", G, " T", round_up_pow2(T), " S",
              round_up_pow2(S), " Dh", q.size(3), a.key_factors.defined() ? " suppressed" : "",
              a.causal ? "" : " bidirectional", " threads ", at::get_num_threads());
  Calibration& cal = calibration();
  std::string kernel;
  {
    std::lock_guard<std::mutex> lock(cal.mu);
    auto it = cal.choices.find(cls);
    if (it == cal.choices.end()) {
      AttentionChoice c = machine_choice(cls, [&] { return calibrate(cls, q, k, G, a); });
      it = cal.choices.emplace(cls, c).first;
      cal.order.push_back(cls);
    }
    kernel = it->second.kernel;
  }
  return kernel == "unfused" ? unfused_attention_cpu(q, k, v, G, a)
                             : fused_attention_cpu(q, k, v, G, a);
}

std::vector<AttentionChoice> attention_choices() {
  Calibration& cal = calibration();
  std::lock_guard<std::mutex> lock(cal.mu);
  std::vector<AttentionChoice> out;
  for (const auto& cls : cal.order) out.push_back(cal.choices.at(cls));
  return out;
}

}  // namespace xai
