// Shared pieces of the benchmarks: timing, the matmul ceiling, a GPT-2-small-shaped random
// checkpoint written with xai's own writer, and resident-memory readings.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "framework/text/encoded.h"

namespace xai::bench {

double now_seconds();
double median(std::vector<double> v);
// Median GFLOP/s of a 1024^3 float32 matmul: the ceiling the peers measure against.
double matmul_gflops(int reps = 30);
// Resident set size now, and the peak since the last reset_peak_rss() (bytes).
int64_t rss_bytes();
int64_t peak_rss_bytes();
void reset_peak_rss();  // Linux clear_refs: the peak restarts from the current RSS
// Drops a file's pages from the page cache, so the next read comes from disk.
void evict_from_page_cache(const std::string& path);

// A GPT-2-small-shaped checkpoint (12 layers, 12 heads, 768 wide, vocab 50257, 1024 positions),
// random N(0, 0.02) weights, unit norms, zero biases; written once into `dir` and reused.
// Returns the model.safetensors size in bytes.
int64_t ensure_gpt2_small(const std::string& dir, bool verbose = true);

// Matmul FLOPs of one forward: B rows of S queries over Tk keys, plus head_rows LM-head rows
// (the peers' formula). last_rows >= 0: the last layer computes q, k, v for all S rows but its
// attention, output projection and MLP for its last `last_rows` rows only, as xai's forward
// does when logits are asked at some positions only (the peers compute every row).
double gpt2_small_forward_flops(int64_t B, int64_t S, int64_t Tk, int64_t head_rows,
                                int64_t last_rows = -1);

// The least matmul work an exact explanation of the last position's logit can do at T tokens
// (one sequence, causal: only the T (T + 1) / 2 query-key pairs that can be nonzero count; the
// last layer's attention, projection and MLP on its last row only, its keys and values on all).
// backward: activations only (weights frozen): every linear's dX (as its forward), and two
// matmuls for each of the forward's two attention matmuls. Bias, norm and softmax work uncounted.
struct ExactFlops {
  double forward = 0, backward = 0;
};
ExactFlops gpt2_small_exact_flops(int64_t T);

// A random prompt of T tokens ids in [lo, hi) (seeded by T) with one target token after it, every
// position explained: the benchmarks' sample. `ids` receives the T + 1 ids.
Encoded random_sample(int64_t T, int64_t lo, int64_t hi, at::Tensor* ids = nullptr);

}  // namespace xai::bench
