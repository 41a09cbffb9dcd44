// AtMan cost on a GPT-2-small-shaped random model, against one plain forward measured in the
// same run: the reference form (no caching, full LM head) and xai's fast path (prefix reuse, head
// at the target), both batched B perturbations per forward, one explained target token.
//
//   bench_atman [--threads 2] [--T 128,256,512] [--B 8] [--subset N] [--only fast|naive]
//               [--cli path/to/xai]
//
// The fast path times every perturbation batch (the run a user gets). The reference form, which
// takes many minutes at T = 512, times 6 batches (first, evenly spread, last) and extrapolates by
// row work, as the Python peer's --subset does: an estimate, printed as such. --subset N sets the
// number for both (--full: every batch for both). --cli XAI also runs `xai explain` itself on
// the same checkpoint (with a tokenizer and a prompt of exactly T tokens) and prints its wall time
// and its own reported seconds beside the benchmark's, so the two are known to agree.
// Reports seconds, forward-equivalents per perturbation (seconds / (forward seconds x
// perturbations)), the fraction of the matmul ceiling, and peak extra memory beyond the weights.
#include <ATen/Parallel.h>
#include <malloc.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "framework/common/host_memory.h"
#include "framework/common/threads.h"
#include "framework/model/model.h"
#include "framework/text/tokenizer.h"
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

// A prompt of exactly T tokens for `tok` (random words, cut at a token boundary), for the CLI run.
std::string prompt_of(const Tokenizer& tok, int64_t T) {
  const char* words[] = {"the",   "river", "city",  "north", "library", "opens", "at",    "nine",
                         "Mara",  "works", "in",    "Lima",  "and",     "Ben",   "lives", "Oslo",
                         "bread", "costs", "three", "coins", "while",   "tea",   "is",    "free"};
  std::string text;
  uint64_t x = 88172645463325252ull;
  while (static_cast<int64_t>(tok.encode(text, true).size()) < T + 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    text += std::string(text.empty() ? "" : " ") + words[x % 24];
  }
  for (int64_t cut = T; cut > 0; --cut) {  // the first cut that re-encodes to exactly T tokens
    const Encoding e = tok.encode(text, true);
    const std::string p = text.substr(0, static_cast<size_t>(e.offsets[cut - 1].end));
    if (static_cast<int64_t>(tok.encode(p, true).size()) == T) return p;
    text = p;
  }
  return text;
}

struct CliRun {
  double wall = 0, explain_seconds = 0;
};

// `xai explain` on the benchmark checkpoint, single-token AtMan as `fast` runs it.
CliRun run_cli(const std::string& xai, const std::string& dir, const std::string& prompt,
               int threads, int64_t B) {
  const std::string cmd =
      xai + " explain --model " + dir + " --prompt '" + prompt +
      "' --target ' the' --method atman --set kappa=off --set batch_size=" + std::to_string(B) +
      " --threads " + std::to_string(threads) + " --json";
  const double t0 = bench::now_seconds();
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  CliRun r;
  r.wall = bench::now_seconds() - t0;
  if (rc != 0) throw std::runtime_error("xai explain failed (" + std::to_string(rc) + "): " + cmd);
  r.explain_seconds = nlohmann::json::parse(out).at("cost").at("seconds").get<double>();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  tune_host_allocator();  // as the xai tool does
  int threads = 2;
  int64_t B = 8, subset_naive = 6, subset_fast = 0;
  std::string cli;  // the xai binary for the end-to-end runs; "" = none
  std::vector<int64_t> Ts = {128, 256, 512};
  std::string dir = "/tmp/xai-bench-gpt2-small";
  std::string only;  // "" = both variants
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--full")) {
      subset_naive = subset_fast = 0;
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--cli")) {
      cli = argv[++i];
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--threads")) {
      threads = std::atoi(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--B")) {
      B = std::atoll(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--subset")) {
      subset_naive = subset_fast = std::atoll(argv[++i]);
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
  std::printf("cpu %s; matmul ceiling (1024^3 fp32, %d threads): %.1f GFLOP/s; B = %lld; %s\n",
              cpu_model_name().c_str(), threads, ceiling, static_cast<long long>(B),
              subset_fast > 0    ? "ESTIMATES: a subset of batches timed, extrapolated by row work"
              : subset_naive > 0 ? "fast: every batch timed; naive: an ESTIMATE from a subset"
                                 : "every batch timed");
  std::unique_ptr<Tokenizer> tokenizer;
  if (!cli.empty()) {  // the CLI needs a tokenizer beside the weights: the GPT-2 fixture's
    namespace fs = std::filesystem;
    const std::string src =
        std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/gpt2/tokenizer.json";
    fs::copy_file(src, dir + "/tokenizer.json", fs::copy_options::overwrite_existing);
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(src));
  }
  std::printf("%5s %-10s %10s %10s %9s %9s %9s\n", "T", "variant", "seconds", "fwd-eq/pert",
              "ceiling", "extra MB", "batches");
  std::vector<std::string> json;
  for (int64_t T : Ts) {
    at::Tensor ids;
    Encoded s = bench::random_sample(T, 0, model->spec().vocab_size, &ids);

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
      Run r = time_atman(*model, s, o, std::string(name) == "naive" ? subset_naive : subset_fast);
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
      if (!cli.empty() && std::string(name) == "fast") {
        const CliRun c = run_cli(cli, dir, prompt_of(*tokenizer, T), threads, B);
        std::printf(
            "%5lld %-10s %10.2f %10s %9s  (xai explain end to end; its explain %.2f s, "
            "benchmark / CLI explain %.2f)\n",
            static_cast<long long>(T), "cli", c.wall, "", "", c.explain_seconds,
            r.seconds / c.explain_seconds);
        std::snprintf(buf, sizeof(buf),
                      "{\"bench\":\"atman_cli\",\"T\":%lld,\"B\":%lld,\"threads\":%d,"
                      "\"wall_seconds\":%.4f,\"explain_seconds\":%.4f,\"bench_seconds\":%.4f}",
                      static_cast<long long>(T), static_cast<long long>(B), threads, c.wall,
                      c.explain_seconds, r.seconds);
        json.push_back(buf);
      }
    }
  }
  for (const auto& j : json) std::printf("%s\n", j.c_str());
  return 0;
}
