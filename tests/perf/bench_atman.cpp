// AtMan cost on a GPT-2-small-shaped random model, against one plain forward measured in the
// same run: the reference form (no caching, full LM head) and xai's fast path (prefix reuse, head
// at the target), both batched B perturbations per forward, one explained target token.
//
//   bench_atman [--threads 2] [--T 128,256,512] [--B 8] [--subset N] [--full] [--only fast|naive]
//
// By default each variant times a subset of its perturbation batches (first, evenly spread, last)
// and extrapolates by row work (rows x recomputed positions), as the Python peer does; --full
// times everything. Reports seconds, forward-equivalents per perturbation
// (seconds / (forward seconds x perturbations)), the fraction of the matmul ceiling, and peak extra
// memory beyond the weights.
#include <ATen/Parallel.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "framework/common/host_memory.h"
#include "framework/model/model.h"
#include "methods/atman.h"
#include "tests/perf/common.h"

using namespace xai;

namespace {

struct Run {
  double seconds = 0;
  double flops = 0;
  double extra_mb = 0;
  int64_t batches_timed = 0, batches = 0;
};

// Times AtMan on `sample`; with subset > 0 only some batches run (through explain_targets=false
// and a shortened explain mask is not possible without changing the work, so the subset is timed
// by running samples whose explain mask selects the chosen batches' positions).
Run time_atman(Model& model, const Encoded& sample, AtManOptions o, int64_t subset) {
  const int64_t T = sample.size();
  const int64_t B = o.batch_size;
  const int64_t nbatches = (T + B - 1) / B;
  std::vector<int64_t> chosen;
  if (subset <= 0 || subset >= nbatches) {
    for (int64_t b = 0; b < nbatches; ++b) chosen.push_back(b);
  } else {
    for (int64_t k = 0; k < subset; ++k)
      chosen.push_back(k * (nbatches - 1) / std::max<int64_t>(1, subset - 1));
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  }
  // Row work of a batch starting at a with nb rows: nb x (T - a) positions (all T without reuse).
  auto work = [&](int64_t b) {
    const int64_t a = b * B, nb = std::min(B, T - a);
    return static_cast<double>(nb) * (o.prefix_reuse ? T - a : T);
  };
  double all_work = 0, timed_work = 0;
  for (int64_t b = 0; b < nbatches; ++b) all_work += work(b);
  Encoded s = sample;
  std::fill(s.explain_mask.begin(), s.explain_mask.end(), 0);
  for (int64_t b : chosen) {
    timed_work += work(b);
    for (int64_t i = b * B; i < std::min(T, (b + 1) * B); ++i) s.explain_mask[i] = 1;
  }
  ExplainContext ctx;
  AtMan atman(o);
  ::malloc_trim(0);
  const int64_t rss0 = bench::rss_bytes();
  bench::reset_peak_rss();
  const double t0 = bench::now_seconds();
  Explanation e = atman.explain(model, s, ctx);
  const double secs = bench::now_seconds() - t0;
  Run r;
  r.extra_mb = (bench::peak_rss_bytes() - rss0) / 1e6;
  // Clean pass once, batches scaled by work.
  at::NoGradGuard g;
  ForwardRequest clean;
  clean.input_ids = at::tensor(sample.ids, at::kLong).view({1, T});
  clean.logit_positions = at::tensor(std::vector<int64_t>{T - 1}, at::kLong);
  clean.return_cache = o.prefix_reuse;
  const double c0 = bench::now_seconds();
  model.forward(clean);
  const double clean_s = bench::now_seconds() - c0;
  r.seconds = clean_s + (secs - clean_s) * all_work / timed_work;
  r.batches_timed = static_cast<int64_t>(chosen.size());
  r.batches = nbatches;
  // Matmul FLOPs the method runs: with the head at the target only, the last layer computes
  // that one row (the peers' formula otherwise).
  r.flops = bench::gpt2_small_forward_flops(1, T, T, o.head_at_targets ? 1 : T,
                                            o.head_at_targets ? 1 : -1);
  for (int64_t b = 0; b < nbatches; ++b) {
    const int64_t a = o.prefix_reuse ? b * B : 0, nb = std::min(B, T - b * B);
    r.flops += bench::gpt2_small_forward_flops(nb, T - a, T, o.head_at_targets ? nb : nb * (T - a),
                                               o.head_at_targets ? 1 : -1);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  tune_host_allocator();  // as the xai tool does
  int threads = 2;
  int64_t B = 8, subset = 6;
  std::vector<int64_t> Ts = {128, 256, 512};
  std::string dir = "/tmp/xai-bench-gpt2-small";
  std::string only;  // "" = both variants
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--full")) {
      subset = 0;
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--threads")) {
      threads = std::atoi(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--B")) {
      B = std::atoll(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--subset")) {
      subset = std::atoll(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--only")) {
      only = argv[++i];
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--dir")) {
      dir = argv[++i];
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--T")) {
      Ts.clear();
      std::stringstream ss(argv[++i]);
      for (std::string tok; std::getline(ss, tok, ',');) Ts.push_back(std::stoll(tok));
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  at::set_num_threads(threads);
  bench::ensure_gpt2_small(dir);
  std::unique_ptr<Model> model = load_model(dir);
  const double ceiling = bench::matmul_gflops();
  std::printf("matmul ceiling (1024^3 fp32, %d threads): %.1f GFLOP/s; B = %lld; %s\n", threads,
              ceiling, static_cast<long long>(B),
              subset > 0 ? "subset of batches timed, extrapolated by row work" : "full runs");
  std::printf("%5s %-10s %10s %10s %9s %9s %9s\n", "T", "variant", "seconds", "fwd-eq/pert",
              "ceiling", "extra MB", "batches");
  std::vector<std::string> json;
  for (int64_t T : Ts) {
    at::manual_seed(T);
    at::Tensor ids = at::randint(0, model->spec().vocab_size, {T + 1}, at::kLong);
    Encoded s;
    s.ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + T);
    s.prompt_len = T;
    s.target_ids = {ids[T].item<int64_t>()};
    s.explain_mask.assign(T, 1);
    s.offsets.assign(T, ByteSpan{});
    s.tokens.assign(T, "");

    double fwd = 0;
    {
      at::NoGradGuard g;
      ForwardRequest req;
      req.input_ids = ids.slice(0, 0, T).view({1, T});
      req.logit_positions = at::tensor(std::vector<int64_t>{T - 1}, at::kLong);
      model->forward(req);
      std::vector<double> t;
      for (int r = 0; r < 3; ++r) {
        const double t0 = bench::now_seconds();
        model->forward(req);
        t.push_back(bench::now_seconds() - t0);
      }
      fwd = bench::median(t);
    }
    std::printf("%5lld %-10s %10.3f %10s %9s\n", static_cast<long long>(T), "forward", fwd, "", "");

    AtManOptions naive;
    naive.kappa = std::nullopt;
    naive.batch_size = B;
    naive.explain_targets = false;
    naive.prefix_reuse = false;
    naive.head_at_targets = false;
    AtManOptions fast = naive;
    fast.prefix_reuse = true;
    fast.head_at_targets = true;
    double naive_s = 0;
    for (auto [name, o] : {std::make_pair("naive", naive), std::make_pair("fast", fast)}) {
      if (!only.empty() && only != name) continue;
      Run r = time_atman(*model, s, o, subset);
      const double fe = r.seconds / (fwd * T);
      const double frac = r.flops / r.seconds / 1e9 / ceiling;
      std::printf("%5lld %-10s %10.2f %10.3f %9.2f %9.1f %5lld/%lld\n", static_cast<long long>(T),
                  name, r.seconds, fe, frac, r.extra_mb, static_cast<long long>(r.batches_timed),
                  static_cast<long long>(r.batches));
      if (std::string(name) == "naive") naive_s = r.seconds;
      char buf[512];
      std::snprintf(buf, sizeof(buf),
                    "{\"bench\":\"atman_%s\",\"T\":%lld,\"B\":%lld,\"threads\":%d,\"seconds\":%.4f,"
                    "\"forward_s\":%.4f,\"fwd_eq_per_perturbation\":%.4f,\"ceiling_fraction\":%.3f,"
                    "\"extra_MB\":%.1f,\"speedup_vs_naive\":%.2f}",
                    name, static_cast<long long>(T), static_cast<long long>(B), threads, r.seconds,
                    fwd, fe, frac, r.extra_mb, naive_s / r.seconds);
      json.push_back(buf);
    }
  }
  for (const auto& j : json) std::printf("%s\n", j.c_str());
  return 0;
}
