// Tensor parallelism on this machine: one model split over the ranks of this launch against the
// same work on one rank with the same cores, e.g.
//   mpirun -n 1 build/tests/bench_tensor_parallel --threads 2
//   mpirun -n 2 build/tests/bench_tensor_parallel --threads 1
// on a GPT-2-medium shape (24 layers, 1024 wide, 16 heads, vocabulary 50257; random synthetic
// weights) at T = 512: a plain forward, one AtMan perturbation batch (8 rows recomputed from the
// middle of the prompt over its cached prefix: the mean batch of a whole AtMan run, whose time is
// that times T / 8), Input x Gradient end to end, the elements summed per forward against
// 2 L B T D (the row-parallel outputs), and each rank's resident memory. Rank 0 prints one line.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "framework/common/threads.h"
#include "framework/config/config.h"
#include "framework/dist/communicator.h"
#include "framework/model/synthetic.h"
#include "framework/model/tensor_parallel.h"
#include "methods/explainer.h"
#include "tests/perf/common.h"

using namespace xai;

int main(int argc, char** argv) {
  int threads = 1, reps = 3;
  int64_t T = 512, layers = 24, hidden = 1024, heads = 16, rows = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--T") T = v;
    else if (a == "--layers") layers = v;
    else if (a == "--hidden") hidden = v;
    else if (a == "--heads") heads = v;
    else if (a == "--reps") reps = static_cast<int>(v);
    else {
      std::fprintf(stderr, "usage: bench_tensor_parallel [--threads N] [--T N] [--layers N] "
                           "[--hidden N] [--heads N] [--reps N]\n");
      return 2;
    }
  }
  at::set_num_threads(threads);
  const double ceiling = bench::matmul_gflops(10);
  std::unique_ptr<Communicator> comm = make_communicator();
  const int k = comm->size();
  const bool root = comm->rank() == 0;
  TensorGroup group(*comm);

  ModelShape shape;
  shape.family = "gpt2";
  shape.layers = layers;
  shape.hidden = hidden;
  shape.heads = heads;
  shape.vocab = 50257;
  shape.max_positions = std::max<int64_t>(1024, T + 1);
  const ModelSpec spec = shape_spec(shape, "bench");
  LoadOptions o;
  o.tensor_group = &group;
  const int64_t rss0 = bench::rss_bytes();
  std::unique_ptr<Model> model = make_synthetic_model(spec, 1, o, at::kFloat);
  const int64_t weights_rss = bench::rss_bytes() - rss0;
  at::NoGradGuard no_grad;
  at::Tensor ids;
  const Encoded sample = bench::random_sample(T, 3, spec.vocab_size, &ids);
  const at::Tensor prompt = ids.slice(0, 0, T).view({1, T});

  auto timed = [&](const std::function<void()>& f) {
    std::vector<double> s;
    for (int r = 0; r < reps; ++r) {
      comm->barrier();
      const double t0 = bench::now_seconds();
      f();
      s.push_back(bench::now_seconds() - t0);
    }
    return bench::median(s);
  };

  // A plain forward over the prompt, logits at the last position.
  const int64_t summed0 = group.elements_summed();
  ForwardRequest fwd;
  fwd.input_ids = prompt;
  fwd.logit_positions = at::tensor({T - 1}, at::kLong);
  model->forward(fwd);
  const int64_t summed_per_forward = group.elements_summed() - summed0;
  const double forward_s = timed([&] { model->forward(fwd); });

  // AtMan's mean batch: rows suppress positions p .. p + 7 from the middle, recomputed from p.
  const int64_t p = T / 2;
  ForwardRequest pre;
  pre.input_ids = prompt.slice(1, 0, p);
  pre.return_cache = true;
  const ForwardResult prefix = model->forward(pre);
  AttentionControl ctl;
  ctl.key_factors = at::ones({rows, T});
  for (int64_t r = 0; r < rows; ++r) ctl.key_factors[r][p + r] = 0.1;
  ForwardRequest batch;
  batch.input_ids = prompt.slice(1, p).expand({rows, T - p}).contiguous();
  batch.past = &prefix.cache;
  batch.logit_positions = at::tensor({T - p - 1}, at::kLong);
  const double atman_batch_s = timed([&] { model->forward(batch, ctl); });

  // Input x Gradient end to end (one target).
  Config cfg = Config::parse("{}", "bench");
  auto ixg = make_explainer("input_x_gradient", cfg.root());
  bench::reset_peak_rss();
  const double ixg_s = timed([&] {
    ExplainContext ctx;
    ixg->explain(*model, sample, ctx);
  });
  const std::vector<int64_t> peaks = comm->allgather(bench::peak_rss_bytes());
  const std::vector<int64_t> weights = comm->allgather(weights_rss);

  if (root) {
    const double ideal = 2.0 * layers * T * hidden;  // the row-parallel outputs of one forward
    std::printf("# cpu %s, matmul ceiling %.1f GFLOP/s on %d thread(s) per rank; GPT-2-medium shape (%lld layers, %lld wide, %lld heads), T = %lld, "
                "float32\n",
                cpu_model_name().c_str(), ceiling, threads, static_cast<long long>(layers),
                static_cast<long long>(hidden), static_cast<long long>(heads),
                static_cast<long long>(T));
    std::printf("k\tthreads\tforward_s\tatman_batch_s\tatman_run_s(est)\tixg_s\tsummed_per_forward"
                "\t2LBTD\tring_bytes_per_rank\tweights_rss_MB(rank0)\tpeak_rss_MB(max rank)\n");
    int64_t peak = 0;
    for (int64_t v : peaks) peak = std::max(peak, v);
    const double ring = k > 1 ? 2.0 * (k - 1) / k * summed_per_forward * 4 : 0.0;
    std::printf("%d\t%d\t%.3f\t%.3f\t%.0f\t%.3f\t%lld\t%.0f\t%.0f\t%.0f\t%.0f\n", k, threads,
                forward_s, atman_batch_s, atman_batch_s * static_cast<double>(T) / rows, ixg_s,
                static_cast<long long>(summed_per_forward), ideal, ring,
                static_cast<double>(weights[0]) / 1e6, static_cast<double>(peak) / 1e6);
  }
  return 0;
}
