#include "tests/perf/common.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/model/arch_registry.h"
#include "framework/model/model_spec.h"
#include "framework/run/machine.h"
#include "framework/tensor_io/safetensors.h"

namespace xai::bench {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double matmul_gflops(int reps) { return matmul_ceiling_gflops(reps); }

int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return 0;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

void evict_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

namespace {
constexpr int64_t kD = 768, kH = 12, kL = 12, kV = 50257, kPos = 1024;
}

double gpt2_small_forward_flops(int64_t B, int64_t S, int64_t Tk, int64_t head_rows,
                                int64_t last_rows) {
  const double lin_tok_layer = 2.0 * 12 * kD * kD;
  const double head = static_cast<double>(head_rows) * 2.0 * kD * kV;
  if (last_rows < 0)
    return static_cast<double>(B) * kL * (S * lin_tok_layer + 4.0 * S * Tk * kD) + head;
  const double last = S * 2.0 * 3 * kD * kD + last_rows * (2.0 * 9 * kD * kD + 4.0 * Tk * kD);
  return static_cast<double>(B) * ((kL - 1) * (S * lin_tok_layer + 4.0 * S * Tk * kD) + last) +
         head;
}

ExactFlops gpt2_small_exact_flops(int64_t T) {
  const double t = static_cast<double>(T), d = kD;
  const double lin = 2.0 * 12 * d * d * t;           // a layer's linears, every row
  const double att = 2.0 * 2 * d * t * (t + 1) / 2;  // q k^T and p v over the causal pairs
  const double last_kv = 2.0 * 2 * d * d * t;        // the last layer's keys and values
  const double last_row = 2.0 * 10 * d * d + 2.0 * 2 * d * t;  // its q, o, MLP; attention
  const double head = 2.0 * d * kV;
  ExactFlops f;
  f.forward = (kL - 1) * (lin + att) + last_kv + last_row + head;
  f.backward =
      (kL - 1) * (lin + 2 * att) + last_kv + (2.0 * 10 * d * d + 2 * 2.0 * 2 * d * t) + head;
  return f;
}

int64_t ensure_gpt2_small(const std::string& dir, bool verbose) {
  namespace fs = std::filesystem;
  const fs::path st = fs::path(dir) / "model.safetensors";
  nlohmann::json cfg = {{"model_type", "gpt2"},
                        {"architectures", {"GPT2LMHeadModel"}},
                        {"vocab_size", kV},
                        {"n_positions", kPos},
                        {"n_embd", kD},
                        {"n_layer", kL},
                        {"n_head", kH},
                        {"activation_function", "gelu_new"},
                        {"layer_norm_epsilon", 1e-5},
                        {"torch_dtype", "float32"}};
  const ModelSpec spec = parse_model_config(cfg.dump(), "bench config");
  int64_t want_bytes = 0;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    int64_t n = 4;
    for (int64_t d : e.shape) n *= d;
    want_bytes += n;
  }
  if (fs::exists(st) && static_cast<int64_t>(fs::file_size(st)) > want_bytes) {
    return static_cast<int64_t>(fs::file_size(st));
  }
  fs::create_directories(dir);
  if (verbose)
    std::fprintf(stderr, "writing a GPT-2-small-shaped checkpoint to %s ...\n", dir.c_str());
  at::manual_seed(0);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    const bool norm =
        e.name.find(".ln_") != std::string::npos || e.name.find("ln_f") != std::string::npos;
    const bool bias = e.name.size() > 5 && e.name.substr(e.name.size() - 5) == ".bias";
    at::Tensor t = bias ? at::zeros(e.shape) : norm ? at::ones(e.shape) : at::randn(e.shape) * 0.02;
    tensors.emplace_back(e.name, t);
  }
  std::ofstream(fs::path(dir) / "config.json") << cfg.dump(2);
  write_safetensors(st.string(), tensors, {{"format", "pt"}});
  return static_cast<int64_t>(fs::file_size(st));
}

Encoded random_sample(int64_t T, int64_t lo, int64_t hi, at::Tensor* ids_out) {
  at::manual_seed(T);
  const at::Tensor ids = at::randint(lo, hi, {T + 1}, at::kLong);
  Encoded s;
  s.ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + T);
  s.prompt_len = T;
  s.target_ids = {ids[T].item<int64_t>()};
  s.explain_mask.assign(T, 1);
  s.offsets.assign(T, ByteSpan{});
  s.tokens.assign(T, "");
  if (ids_out != nullptr) *ids_out = ids;
  return s;
}

}  // namespace xai::bench
