// Merge benchmark: per-rank shards for N samples x T tokens x M methods (synthetic relevance,
// written through the real ShardWriter), then merge_shards into results.h5. Prints the write and
// merge seconds and results.h5's size against the raw float32 bytes of the relevance and
// per-target maps (the baseline: what an uncompressed dump of the same numbers would take).
//   bench_merge [--samples 10000] [--tokens 512] [--methods 10] [--ranks 4] [--dir DIR]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "framework/io/merge.h"
#include "framework/io/shard_writer.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int64_t dir_bytes(const std::string& dir) {
  int64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".h5") n += e.file_size();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc % 2 == 0) {  // every option takes a value: a lone one is --help or a slip
    std::fprintf(
        stderr, "usage: %s\n",
        "bench_merge [--samples 10000] [--tokens 512] [--methods 10] [--ranks 4] [--dir DIR]");
    return 2;
  }
  int64_t samples = 10000, tokens = 512, methods = 10, ranks = 4;
  std::string dir = (fs::temp_directory_path() / "xai-bench-merge").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--samples")
      samples = std::atoll(v.c_str());
    else if (k == "--tokens")
      tokens = std::atoll(v.c_str());
    else if (k == "--methods")
      methods = std::atoll(v.c_str());
    else if (k == "--ranks")
      ranks = std::atoll(v.c_str());
    else if (k == "--dir")
      dir = v;
    else {
      std::fprintf(stderr, "bench_merge: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);

  xai::ResultsMeta meta;
  meta.provenance = {{"experiment", "bench_merge"}};
  for (int64_t m = 0; m < methods; ++m) meta.explainers["method" + std::to_string(m)] = {};

  // Attribution-like values: a heavy-tailed magnitude with a random sign, full float32 mantissas
  // (real relevance maps are not smoother than this, so deflate gains little on the values).
  std::mt19937 rng(0);
  std::exponential_distribution<float> magnitude(3.0f);
  std::uniform_int_distribution<int> coin(0, 1);
  const auto t_write = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < ranks; ++r) {
    xai::ShardWriter writer(dir, static_cast<int>(r), meta, xai::FlushPolicy(256, 0));
    for (int64_t s = r; s < samples; s += ranks) {  // sample s on rank s mod ranks
      xai::SampleRecord rec;
      rec.model = "model";
      char id[32];
      std::snprintf(id, sizeof(id), "s%06lld", static_cast<long long>(s));
      rec.sample_id = id;
      rec.prompt_len = tokens - 1;
      rec.tokens.resize(static_cast<size_t>(tokens));
      rec.token_offsets.resize(static_cast<size_t>(tokens));
      rec.explain_mask.assign(static_cast<size_t>(tokens), 1);
      rec.evidence.assign(static_cast<size_t>(tokens), 0.0f);
      for (int64_t t = 0; t < tokens; ++t) {
        rec.tokens[t] = static_cast<int64_t>(rng() % 50257);
        rec.token_offsets[t] = {4 * t, 4 * t + 4};
      }
      rec.prompt = std::string(static_cast<size_t>(4 * tokens), 'x');
      rec.target = " y";
      for (int64_t m = 0; m < methods; ++m) {
        xai::ExplanationRecord e;
        e.relevance.resize(static_cast<size_t>(tokens));
        for (auto& x : e.relevance) x = (coin(rng) ? 1.0f : -1.0f) * magnitude(rng);
        e.n_targets = 1;
        e.per_target = e.relevance;
        e.metrics = {{"ap", 0.5}, {"ar", 0.5}};
        e.cost = {{"seconds", 0.1}, {"forward_passes", 64}};
        rec.explanations["method" + std::to_string(m)] = std::move(e);
      }
      writer.add(std::move(rec));
    }
    writer.close();
  }
  const double write_s = seconds_since(t_write);
  const int64_t shard_bytes = dir_bytes(xai::shards_dir(dir));

  const auto t_merge = std::chrono::steady_clock::now();
  const xai::MergeSummary merged = xai::merge_shards(dir);
  const double merge_s = seconds_since(t_merge);
  const int64_t out_bytes = static_cast<int64_t>(fs::file_size(merged.output));

  // Baseline: the relevance and per-target maps as raw float32 (2 x N x T x M x 4 bytes).
  const double raw = 2.0 * samples * tokens * methods * 4;
  std::printf("merge: %lld samples x %lld tokens x %lld methods, %lld shards\n",
              static_cast<long long>(samples), static_cast<long long>(tokens),
              static_cast<long long>(methods), static_cast<long long>(ranks));
  std::printf("  write shards (ShardWriter): %8.2f s   shards %.1f MB\n", write_s,
              shard_bytes / 1e6);
  std::printf("  merge -> results.h5:        %8.2f s   results.h5 %.1f MB\n", merge_s,
              out_bytes / 1e6);
  std::printf("  raw float32 relevance + per_target: %.1f MB; results.h5 / raw = %.3f\n", raw / 1e6,
              out_bytes / raw);
  std::printf(
      "{\"bench\": \"merge\", \"samples\": %lld, \"tokens\": %lld, \"methods\": %lld, "
      "\"ranks\": %lld, \"write_seconds\": %.3f, \"merge_seconds\": %.3f, "
      "\"results_bytes\": %lld, \"raw_float32_bytes\": %.0f, \"ratio\": %.4f}\n",
      static_cast<long long>(samples), static_cast<long long>(tokens),
      static_cast<long long>(methods), static_cast<long long>(ranks), write_s, merge_s,
      static_cast<long long>(out_bytes), raw, out_bytes / raw);
  if (merged.samples != samples) {
    std::fprintf(stderr, "bench_merge: merged %lld samples, expected %lld\n",
                 static_cast<long long>(merged.samples), static_cast<long long>(samples));
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
