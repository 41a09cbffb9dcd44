// Forward throughput and checkpoint loading on a GPT-2-small-shaped random model.
//
//   bench_forward [--threads 2] [--T 128,256,512] [--reps 5] [--dir /tmp/xai-bench-gpt2-small]
//
// Prints, per T: seconds per forward (batch 1, LM head on the last position), achieved GFLOP/s
// and its fraction of the 1024^3 matmul ceiling measured in the same run; and the load time of the
// ~500 MB checkpoint against its size. One JSON line per measurement goes to stdout's end.
#include <ATen/Parallel.h>

#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "framework/common/host_memory.h"
#include "framework/common/threads.h"
#include "framework/model/attention_cpu.h"
#include "framework/model/model.h"
#include "tests/perf/common.h"

using namespace xai;

int main(int argc, char** argv) {
  if (argc % 2 == 0) {  // every option takes a value: a lone one is --help or a slip
    std::fprintf(stderr, "usage: %s\n",
                 "bench_forward [--threads 2] [--T 128,256,512] [--reps 5] [--dir DIR]");
    return 2;
  }
  tune_host_allocator();  // as the xai tool does
  int threads = 2, reps = 5;
  std::vector<int64_t> Ts = {128, 256, 512};
  std::string dir = "/tmp/xai-bench-gpt2-small";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--T")) {
      Ts.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string tok; std::getline(ss, tok, ',');) Ts.push_back(std::stoll(tok));
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  at::set_num_threads(threads);
  const int64_t file_bytes = bench::ensure_gpt2_small(dir);

  const double ceiling = bench::matmul_gflops();
  std::vector<std::string> json;

  // Loading: mmap + header and table validation; pages are read on first use. Measured from a
  // cold page cache: load_model, then the first forward, which reads every weight from disk.
  bench::evict_from_page_cache(dir + "/model.safetensors");
  const int64_t rss0 = bench::rss_bytes();
  double t0 = bench::now_seconds();
  std::unique_ptr<Model> model = load_model(dir);
  const double load_s = bench::now_seconds() - t0;
  const int64_t rss_load = bench::rss_bytes() - rss0;
  {
    at::NoGradGuard no_grad;
    ForwardRequest req;
    req.input_ids = at::zeros({1, 8}, at::kLong);
    t0 = bench::now_seconds();
    model->forward(req);
  }
  const double first_s = bench::now_seconds() - t0;
  const int64_t rss_weights = bench::rss_bytes() - rss0;
  std::printf(
      "load   %.1f MB checkpoint, cold cache: load_model %.4f s (resident +%.1f MB), "
      "first forward %.3f s (resident +%.1f MB) = %.0f MB/s\n",
      file_bytes / 1e6, load_s, rss_load / 1e6, first_s, rss_weights / 1e6,
      file_bytes / 1e6 / (load_s + first_s));
  json.push_back("{\"bench\":\"load\",\"file_MB\":" + std::to_string(file_bytes / 1e6) +
                 ",\"load_s\":" + std::to_string(load_s) +
                 ",\"first_forward_s\":" + std::to_string(first_s) +
                 ",\"rss_after_load_MB\":" + std::to_string(rss_load / 1e6) +
                 ",\"rss_after_first_forward_MB\":" + std::to_string(rss_weights / 1e6) + "}");

  std::printf("cpu %s; matmul ceiling (1024^3 fp32, %d threads): %.1f GFLOP/s\n",
              cpu_model_name().c_str(), threads, ceiling);
  std::printf("%6s %12s %12s %10s %10s %14s\n", "T", "forward s", "GFLOP/s", "ceiling", "extra MB",
              "unfused attn s");
  at::NoGradGuard no_grad;
  for (int64_t T : Ts) {
    ForwardRequest req;
    req.input_ids = at::randint(0, model->spec().vocab_size, {1, T}, at::kLong);
    req.logit_positions = at::tensor(std::vector<int64_t>{T - 1}, at::kLong);
    ::malloc_trim(0);  // hand cached heap back, so the peak below is this forward's own
    const int64_t rss_before = bench::rss_bytes();
    bench::reset_peak_rss();
    model->forward(req);  // warm-up; its peak is the transient memory of one forward
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      t0 = bench::now_seconds();
      model->forward(req);
      times.push_back(bench::now_seconds() - t0);
    }
    const double s = bench::median(times);
    // The same forward through the unfused attention (the path autograd uses): grad mode on,
    // nothing requires grad, so no graph is built, only the attention path differs.
    std::vector<double> generic_times;
    {
      at::AutoGradMode grad_on(true);
      model->forward(req);
      for (int r = 0; r < reps; ++r) {
        t0 = bench::now_seconds();
        model->forward(req);
        generic_times.push_back(bench::now_seconds() - t0);
      }
    }
    const double generic_s = bench::median(generic_times);
    const double gflops = bench::gpt2_small_forward_flops(1, T, T, 1, 1) / s / 1e9;
    const double extra = (bench::peak_rss_bytes() - rss_before) / 1e6;  // beyond weights
    std::printf("%6lld %12.4f %12.1f %10.2f %10.1f %14.4f\n", static_cast<long long>(T), s, gflops,
                gflops / ceiling, extra > 0 ? extra : 0.0, generic_s);
    json.push_back("{\"bench\":\"forward_last\",\"T\":" + std::to_string(T) +
                   ",\"threads\":" + std::to_string(threads) + ",\"seconds\":" + std::to_string(s) +
                   ",\"gflops\":" + std::to_string(gflops) + ",\"ceiling_gflops\":" +
                   std::to_string(ceiling) + ",\"fraction\":" + std::to_string(gflops / ceiling) +
                   ",\"extra_MB\":" + std::to_string(extra) + "}");
  }
  // The attention kernel each shape class got (timed on a proxy the first time it was seen).
  for (const AttentionChoice& c : attention_choices()) {
    std::printf("attention %-40s %-8s fused %.2f ms, unfused %.2f ms\n", c.shape_class.c_str(),
                c.kernel.c_str(), c.fused_ms, c.unfused_ms);
  }
  for (const auto& j : json) std::printf("%s\n", j.c_str());
  return 0;
}
