// Every explainer on a GPT-2-small-shaped random model, one explained target token: seconds and
// peak extra memory per explanation beyond the weights, and both as ratios to one plain forward
// (LM head on the last position) measured in the same run. This is the paper's memory claim
// measured in our own code: gradient methods near 2x a forward or more, AtMan near 1x.
// "x full": the seconds against the other plain forward, the one `model(input_ids)` runs in
// Hugging Face and peer_bench.py's `forward` times: logits at every position. At GPT-2's vocabulary
// its LM head is ~30% of that forward, so the same method reads ~1.4x fewer forward-equivalents
// against it; compare a ratio only with one taken against the same kind of forward.
//
//   bench_methods [--threads 2] [--T 256,512] [--methods atman,chefer,...] [--set method.key=v]
//
// Slow methods (integrated_gradients, attattr, AtMan at long T) dominate; --methods picks a subset.
// Each method's ratio uses the mean of a forward timed right before it and one right after (a
// long method sees the machine's speed drift); methods under ~7 s run 3 times (median). With
// chefer, the full (T, T) matrix product is timed too, against its row propagation. XAI_PROFILE=DIR
// also writes an autograd-profiler trace per method and T (chrome://tracing). "floor": for a method
// of one forward and at most one backward over the one sequence, the least forward-equivalents any
// exact implementation can reach, from matmul FLOPs (bench::gpt2_small_exact_flops): how far "x
// forward" is from what the arithmetic allows. It assumes a backward down to the embeddings;
// chefer and chefer_lrp with start_layer > 0 stop at that layer and go below it.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <sstream>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "framework/common/host_memory.h"
#include "framework/common/threads.h"
#include "framework/config/config.h"
#include "framework/model/model.h"
#include "framework/run/memory_meter.h"
#include "methods/chefer.h"
#include "methods/explainer.h"
#include "tests/perf/common.h"

using namespace xai;

namespace {

// Runs `once` (which returns its seconds) up to 3 times while the runs so far total under 20 s,
// and returns the median: cheap methods get a median, slow ones a single run.
double median_while_cheap(const std::function<double()>& once) {
  std::vector<double> secs;
  do {
    secs.push_back(once());
  } while (secs.size() < 3 && std::accumulate(secs.begin(), secs.end(), 0.0) < 20.0);
  return bench::median(secs);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc % 2 == 0) {  // every option takes a value: a lone one is --help or a slip
    std::fprintf(stderr, "usage: %s\n",
                 "bench_methods [--threads 2] [--T 256,512] [--methods a,b,...] [--set "
                 "method.key=v] [--dir DIR]");
    return 2;
  }
  tune_host_allocator();                     // as the xai tool does
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines appear as each method finishes
  int threads = 2;
  std::vector<int64_t> Ts = {256, 512};
  std::vector<std::string> methods = explainer_methods();
  std::vector<std::string> sets;
  std::string dir = "/tmp/xai-bench-gpt2-small";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (a == "--dir") {
      dir = v;
    } else if (a == "--set") {
      sets.push_back(v);
    } else if (a == "--T" || a == "--methods") {
      std::stringstream ss(v);
      if (a == "--T")
        Ts.clear();
      else
        methods.clear();
      for (std::string tok; std::getline(ss, tok, ',');) {
        if (a == "--T")
          Ts.push_back(std::stoll(tok));
        else
          methods.push_back(tok);
      }
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  at::set_num_threads(threads);
  bench::ensure_gpt2_small(dir);
  std::unique_ptr<Model> model = load_model(dir);
  // Parameters per method from --set method.key=value (as YAML under a mapping per method).
  std::string yaml = "{";
  for (const auto& m : methods) yaml += m + ": {}, ";
  yaml += "}";
  Config cfg = Config::parse(yaml, "--set", sets);
  std::vector<std::unique_ptr<Explainer>> explainers;
  for (const auto& m : methods) explainers.push_back(make_explainer(m, cfg.root().child(m)));
  cfg.finish_all();  // a misspelt --set key is an error, not ignored
  std::vector<std::string> json;
  std::printf("cpu %s; matmul ceiling (1024^3 fp32, %d threads): %.1f GFLOP/s\n",
              cpu_model_name().c_str(), at::get_num_threads(), bench::matmul_gflops());
  std::printf("%5s %-22s %10s %10s %6s %7s %10s %10s %6s %6s\n", "T", "method", "seconds",
              "x forward", "floor", "x full", "extra MB", "x forward", "fwd", "bwd");
  for (int64_t T : Ts) {
    at::Tensor ids;
    Encoded s = bench::random_sample(T, 0, model->spec().vocab_size, &ids);

    // The baseline: one plain forward with the LM head on the last position, no grad. It is timed
    // again right before each method (median of 3) and each ratio uses that figure, so a machine
    // whose speed drifts during a long run still gives comparable ratios.
    ForwardRequest fwd_req;
    fwd_req.input_ids = ids.slice(0, 0, T).view({1, T});
    fwd_req.logit_positions = at::tensor(std::vector<int64_t>{T - 1}, at::kLong);
    ForwardRequest full_req;  // the same with logits at every position
    full_req.input_ids = fwd_req.input_ids;
    MemoryMeter meter;
    double fwd_mb = 0, full_mb = 0;
    auto time_one = [&](const ForwardRequest& req, double* peak_mb) {
      at::NoGradGuard g;
      model->forward(req);
      meter.start();
      std::vector<double> t;
      for (int r = 0; r < 3; ++r) {
        const double t0 = bench::now_seconds();
        model->forward(req);
        t.push_back(bench::now_seconds() - t0);
      }
      *peak_mb = meter.peak_extra_bytes() / 1e6;
      return bench::median(t);
    };
    double full_s = 0;  // the latest full forward, timed beside each last-position one
    auto time_forward = [&] {
      full_s = time_one(full_req, &full_mb);
      return time_one(fwd_req, &fwd_mb);
    };
    const double first_fwd_s = time_forward();  // sets fwd_mb, full_s, full_mb
    std::printf("%5lld %-22s %10.3f %10s %6s %7s %10.1f\n", static_cast<long long>(T), "forward",
                first_fwd_s, "", "", "", fwd_mb);
    std::printf("%5lld %-22s %10.3f %10.2f %6s %7s %10.1f\n", static_cast<long long>(T),
                "forward, every logit", full_s, full_s / first_fwd_s, "", "1.00", full_mb);
    const bench::ExactFlops flops = bench::gpt2_small_exact_flops(T);
    for (size_t k = 0; k < methods.size(); ++k) {
      const std::string& m = methods[k];
      Explainer* ex = explainers[k].get();
      const double fwd_before = time_forward();
      const double full_before = full_s;
      // The method: repeated while cheap (up to 3 runs within 20 s), median seconds, peak memory.
      ExplainContext ctx;
      double mb = 0;
      int runs = 0;
      Explanation e;
      const double sec = median_while_cheap([&] {
        meter.start();
        e = ex->explain(*model, s, ctx);
        mb = std::max(mb, meter.peak_extra_bytes() / 1e6);
        ++runs;
        return e.cost.seconds;
      });
      // The forward again after it: a method of a minute can see the machine's speed drift, and
      // the mean of the two readings tracks it better than either alone.
      const double fwd_after = time_forward();
      const double fwd_s = 0.5 * (fwd_before + fwd_after);
      const double full_fwd_s = 0.5 * (full_before + full_s);
      const bool one_pass = e.cost.sequences == 1 && e.cost.backward_passes <= 1;
      const double floor =
          one_pass ? (flops.forward + e.cost.backward_passes * flops.backward) / flops.forward : 0;
      char floor_s[16] = "";
      if (one_pass) std::snprintf(floor_s, sizeof(floor_s), "%.2f", floor);
      std::printf(
          "%5lld %-22s %10.3f %10.2f %6s %7.2f %10.1f %10.2f %6lld %6lld  (forward %.3f s before, "
          "%.3f after, %d runs)\n",
          static_cast<long long>(T), m.c_str(), sec, sec / fwd_s, floor_s, sec / full_fwd_s, mb,
          fwd_mb > 0 ? mb / fwd_mb : 0.0, static_cast<long long>(e.cost.forward_passes),
          static_cast<long long>(e.cost.backward_passes), fwd_before, fwd_after, runs);
      char buf[512];
      std::snprintf(buf, sizeof(buf),
                    "{\"bench\":\"method\",\"method\":\"%s\",\"T\":%lld,\"threads\":%d,"
                    "\"seconds\":%.4f,\"runs\":%d,\"forward_seconds\":%.4f,"
                    "\"full_forward_seconds\":%.4f,\"forward_seconds_before\":%.4f,\"forward_"
                    "seconds_after\":%.4f,\"extra_MB\":%.1f,"
                    "\"forward_extra_MB\":%.1f,\"forward_passes\":%lld,\"backward_passes\":%lld,"
                    "\"flop_floor_x_forward\":%.3f}",
                    m.c_str(), static_cast<long long>(T), threads, sec, runs, fwd_s, full_fwd_s,
                    fwd_before, fwd_after, mb, fwd_mb,
                    static_cast<long long>(e.cost.forward_passes),
                    static_cast<long long>(e.cost.backward_passes), floor);
      json.push_back(buf);
      if (m == "chefer") {
        // The same relevance the plain way: every layer's (T, T) map from one backward, then the
        // full matrix product R = (I + Abar_L-1) ... (I + Abar_0), its last row read at the end.
        const double product_s = median_while_cheap([&] {
          const double t0 = bench::now_seconds();
          const auto maps = chefer_layer_maps(*model, s, 0, TargetFunction::kLogit);
          at::Tensor row = chefer_matrix(maps, 0)[T - 1].clone();
          return bench::now_seconds() - t0;
        });
        std::printf("%5lld %-22s %10.3f %10.2f   (row propagation is %.2fx faster)\n",
                    static_cast<long long>(T), "chefer, full product", product_s, product_s / fwd_s,
                    product_s / sec);
        std::snprintf(buf, sizeof(buf),
                      "{\"bench\":\"chefer_full_product\",\"T\":%lld,\"threads\":%d,"
                      "\"seconds\":%.4f,\"row_propagation_seconds\":%.4f,\"forward_seconds\":%.4f}",
                      static_cast<long long>(T), threads, product_s, sec, fwd_s);
        json.push_back(buf);
      }
      if (const char* dir = std::getenv("XAI_PROFILE")) {
        // One more run under the autograd profiler: a chrome://tracing file per method and T.
        const std::string path = std::string(dir) + "/" + m + "_T" +
                                 std::to_string(static_cast<long long>(T)) + ".trace";
        {
          torch::autograd::profiler::RecordProfile guard(path);
          ex->explain(*model, s, ctx);
        }
        std::printf("profile: %s\n", path.c_str());
      }
    }
  }
  for (const auto& j : json) std::printf("%s\n", j.c_str());
  return 0;
}
