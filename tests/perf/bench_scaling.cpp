// The AtMan paper's scaling figure (Fig. 5) on xai: seconds and peak extra memory of one
// explanation against model size and sequence length, for a plain forward, AtMan, Chefer, input x
// gradient and integrated gradients, on synthetic GPT-J-shaped models (seeded random weights, the
// paper stacked GPT-J layers the same way). Writes a table (stdout, and JSON lines in
// DIR/scaling.jsonl) and an SVG plot (DIR/scaling.svg: memory solid, time dashed, as in the
// paper). Shapes too large to run here are planned only: the memory planner's estimate against the
// budget says where each method stops fitting (e.g. 24 GB).
//
//   bench_scaling [--threads 2] [--T 128,256] [--sizes 4x256,6x512] [--plan-sizes 28x4096]
//                 [--methods forward,atman,chefer,input_x_gradient,integrated_gradients]
//                 [--dtype float32|bfloat16] [--budget 24GB] [--dir DIR]
//
// A size is LAYERSxHIDDEN (heads = hidden / 64 up to 16 heads of hidden / 16, GPT-J's 4x MLP,
// vocabulary 50400). AtMan explains the first `--atman-positions` tokens only (default 16: its
// largest batch, the longest suffix, is among them), and its seconds are scaled to all T
// positions by the suffix lengths (each perturbation's forward covers the tokens after it), so a
// row reads as a whole explanation. IG runs `--ig-steps` steps (default 20).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "framework/common/host_memory.h"
#include "framework/common/threads.h"
#include "framework/config/config.h"
#include "framework/model/memory.h"
#include "framework/model/synthetic.h"
#include "framework/run/memory_meter.h"
#include "methods/explainer.h"
#include "tests/perf/common.h"

#ifdef XAI_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>
#endif

using namespace xai;

namespace {

struct Shape {
  int64_t layers = 0, hidden = 0;
  std::string label() const { return std::to_string(layers) + "x" + std::to_string(hidden); }
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string tok; std::getline(ss, tok, ',');) {
    if (!tok.empty()) out.push_back(tok);
  }
  return out;
}

Shape parse_shape(const std::string& s) {
  const size_t x = s.find('x');
  if (x == std::string::npos) throw std::runtime_error("a size is LAYERSxHIDDEN, got " + s);
  return {std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))};
}

ModelSpec spec_of(const Shape& s) {
  ModelShape m;
  m.family = "gptj";
  m.layers = s.layers;
  m.hidden = s.hidden;
  m.heads = std::max<int64_t>(1, std::min<int64_t>(16, s.hidden / 64));
  while (s.hidden % m.heads != 0) --m.heads;
  m.vocab = 50400;
  m.max_positions = 4096;
  return shape_spec(m, "bench_scaling: ");
}

struct Point {
  std::string method, size;
  double params = 0;
  int64_t T = 0;
  double seconds = NAN, mb = NAN, planned_mb = 0;
  bool ran = false, fits = true;
};

// An SVG line plot: x = sequence length (log2), left y = seconds (log10, dashed), right y = MB
// (log10, solid), one colour per (method, size).
void write_svg(const std::string& path, const std::vector<Point>& pts) {
  std::map<std::string, std::vector<const Point*>> series;
  double tmin = 1e9, tmax = 0, smin = 1e9, smax = 0, mmin = 1e9, mmax = 0;
  for (const auto& p : pts) {
    if (!p.ran) continue;
    series[p.method + " " + p.size].push_back(&p);
    tmin = std::min<double>(tmin, p.T);
    tmax = std::max<double>(tmax, p.T);
    smin = std::min(smin, p.seconds);
    smax = std::max(smax, p.seconds);
    mmin = std::min(mmin, std::max(p.mb, 1.0));
    mmax = std::max(mmax, std::max(p.mb, 1.0));
  }
  if (series.empty()) return;
  const double W = 900, H = 520, L = 80, R = 220, Tp = 40, B = 60;
  auto lg = [](double v) { return std::log10(std::max(v, 1e-9)); };
  auto x_of = [&](double T) {
    return tmax > tmin ? L + (std::log2(T) - std::log2(tmin)) / (std::log2(tmax) - std::log2(tmin)) *
                                 (W - L - R)
                       : L + (W - L - R) / 2;
  };
  auto y_of = [&](double v, double lo, double hi) {
    const double a = lg(lo) - 0.1, b = lg(hi) + 0.1;
    return Tp + (1 - (lg(v) - a) / (b - a)) * (H - Tp - B);
  };
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                           "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  std::ofstream o(path);
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n";
  o << "<text x='" << L << "' y='20' font-size='14'>Seconds (dashed, left axis) and peak MB "
       "(solid, right axis) per explanation</text>\n";
  o << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B
    << "' stroke='black'/>\n<line x1='" << L << "' y1='" << Tp << "' x2='" << L << "' y2='"
    << H - B << "' stroke='black'/>\n<line x1='" << W - R << "' y1='" << Tp << "' x2='" << W - R
    << "' y2='" << H - B << "' stroke='black'/>\n";
  for (double T = tmin; T <= tmax * 1.001; T *= 2) {
    o << "<text x='" << x_of(T) - 12 << "' y='" << H - B + 18 << "'>" << T << "</text>\n";
  }
  o << "<text x='" << (W - R + L) / 2 - 60 << "' y='" << H - 15 << "'>sequence length T</text>\n";
  for (int e = static_cast<int>(std::floor(lg(smin))); e <= static_cast<int>(std::ceil(lg(smax)));
       ++e) {
    const double v = std::pow(10.0, e);
    if (v < smin / 1.3 || v > smax * 1.3) continue;
    o << "<text x='" << 10 << "' y='" << y_of(v, smin, smax) + 4 << "'>" << v << " s</text>\n";
  }
  for (int e = static_cast<int>(std::floor(lg(mmin))); e <= static_cast<int>(std::ceil(lg(mmax)));
       ++e) {
    const double v = std::pow(10.0, e);
    if (v < mmin / 1.3 || v > mmax * 1.3) continue;
    o << "<text x='" << W - R + 6 << "' y='" << y_of(v, mmin, mmax) + 4 << "'>" << v
      << " MB</text>\n";
  }
  int k = 0;
  for (const auto& [name, ps] : series) {
    const char* c = colours[k % 10];
    std::string secs, mem;
    for (const Point* p : ps) {
      secs += std::to_string(x_of(p->T)) + "," + std::to_string(y_of(p->seconds, smin, smax)) + " ";
      mem += std::to_string(x_of(p->T)) + "," +
             std::to_string(y_of(std::max(p->mb, 1.0), mmin, mmax)) + " ";
    }
    o << "<polyline fill='none' stroke='" << c << "' stroke-dasharray='6,4' points='" << secs
      << "'/>\n<polyline fill='none' stroke='" << c << "' points='" << mem << "'/>\n";
    o << "<text x='" << W - R + 60 << "' y='" << Tp + 16 * k << "' fill='" << c << "'>" << name
      << "</text>\n";
    ++k;
  }
  o << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  tune_host_allocator();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::map<std::string, std::string> opt = {
      {"threads", "2"},
      {"T", "128,256"},
      {"sizes", "4x256,6x512"},
      {"plan-sizes", "12x768,24x1024,24x2048,28x4096"},
      {"methods", "forward,atman,chefer,input_x_gradient,integrated_gradients"},
      {"dtype", "float32"},
      {"budget", "24GB"},
      {"dir", "/tmp/xai-bench-scaling"},
      {"atman-positions", "16"},
      {"ig-steps", "20"},
      {"device", "cpu"}};
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc || opt.count(a.substr(2)) == 0) {
      std::fprintf(stderr,
                   "usage: bench_scaling [--threads N] [--T a,b] [--sizes LxD,...] "
                   "[--plan-sizes LxD,...] [--methods m,...] [--dtype D] [--budget 24GB] "
                   "[--dir DIR] [--atman-positions N] [--ig-steps N] [--device cpu|cuda]\n");
      return 2;
    }
    opt[a.substr(2)] = argv[i + 1];
  }
  at::set_num_threads(std::atoi(opt["threads"].c_str()));
  const at::Device device(opt["device"] == "cuda" ? "cuda:0" : opt["device"]);
#ifndef XAI_WITH_CUDA
  if (device.is_cuda()) {
    std::fprintf(stderr, "bench_scaling: this build has no CUDA\n");
    return 2;
  }
#endif
  // Peak memory of one explanation beyond what was in use: the CUDA allocator's peak on a GPU,
  // resident memory (MemoryMeter) on the CPU.
  MemoryMeter meter;
  auto memory_start = [&] {
#ifdef XAI_WITH_CUDA
    if (device.is_cuda()) {
      torch::cuda::synchronize();
      c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
      return;
    }
#endif
    meter.start();
  };
  [[maybe_unused]] int64_t gpu_base = 0;
  auto memory_peak = [&]() -> double {
#ifdef XAI_WITH_CUDA
    if (device.is_cuda()) {
      torch::cuda::synchronize();
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
      const auto& a = stats.allocated_bytes[0];  // StatType::AGGREGATE
      return static_cast<double>(a.peak - gpu_base);
    }
#endif
    return static_cast<double>(meter.peak_extra_bytes());
  };
  auto allocated_now = [&]() -> int64_t {
#ifdef XAI_WITH_CUDA
    if (device.is_cuda()) {
      return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index())
          .allocated_bytes[0]
          .current;
    }
#endif
    return 0;
  };
  const at::ScalarType dtype = opt["dtype"] == "bfloat16" ? at::kBFloat16 : at::kFloat;
  const int64_t ebytes = dtype == at::kFloat ? 4 : 2;
  const double budget = static_cast<double>(parse_byte_size(opt["budget"], "--budget "));
  const int64_t atman_positions = std::atoll(opt["atman-positions"].c_str());
  std::vector<int64_t> Ts;
  for (const auto& t : split(opt["T"])) Ts.push_back(std::stoll(t));
  const auto methods = split(opt["methods"]);

  // The explainers, as a run builds them.
  std::string yaml = "{";
  for (const auto& m : methods) {
    if (m == "forward") continue;
    yaml += m + ": {" + (m == "integrated_gradients" ? "steps: " + opt["ig-steps"] : "") +
            (m == "atman" ? "kappa: off" : "") + "}, ";
  }
  yaml += "}";
  Config cfg = Config::parse(yaml, "bench_scaling");
  std::map<std::string, std::unique_ptr<Explainer>> explainers;
  for (const auto& m : methods) {
    if (m != "forward") explainers[m] = make_explainer(m, cfg.root().child(m));
  }
  cfg.finish_all();

  std::printf("cpu %s; matmul ceiling (1024^3 fp32, %d threads): %.1f GFLOP/s; weights %s; device %s\n",
              cpu_model_name().c_str(), at::get_num_threads(), bench::matmul_gflops(),
              opt["dtype"].c_str(), device.str().c_str());
  std::printf("%-8s %8s %6s %-22s %10s %10s %12s %6s\n", "size", "params", "T", "method",
              "seconds", "peak MB", "planned MB", "fits");
  std::vector<Point> points;
  std::filesystem::create_directories(opt["dir"]);
  std::ofstream jsonl(opt["dir"] + "/scaling.jsonl");
  auto report = [&](const Point& p) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-8s %7.0fM %6lld %-22s %10s %10s %12.0f %6s\n",
                  p.size.c_str(), p.params / 1e6, static_cast<long long>(p.T), p.method.c_str(),
                  p.ran ? std::to_string(p.seconds).substr(0, 8).c_str() : "-",
                  p.ran ? std::to_string(static_cast<int64_t>(p.mb)).c_str() : "-", p.planned_mb,
                  p.fits ? "yes" : "NO");
    std::fputs(line, stdout);
    jsonl << "{\"size\": \"" << p.size << "\", \"params\": " << p.params << ", \"T\": " << p.T
          << ", \"method\": \"" << p.method << "\", \"ran\": " << (p.ran ? "true" : "false")
          << ", \"seconds\": " << (p.ran ? p.seconds : -1) << ", \"peak_MB\": "
          << (p.ran ? p.mb : -1) << ", \"planned_MB\": " << p.planned_mb
          << ", \"fits\": " << (p.fits ? "true" : "false") << "}\n";
    points.push_back(p);
  };

  // A row for (size, T, method), with the planner's estimate and whether it fits the budget.
  auto plan_point = [&](const ModelSpec& spec, const std::string& size, const std::string& m,
                        int64_t T) {
    Point p;
    p.method = m;
    p.size = size;
    p.params = static_cast<double>(spec.num_parameters());
    p.T = T;
    MemoryQuery q;
    q.basis = activation_basis(spec, ebytes, T);
    const double extra =
        m == "forward" ? inference_forward_need(q).bytes() : explainers[m]->memory_need(q).bytes();
    p.planned_mb = extra / 1e6;
    p.fits = static_cast<double>(spec.num_parameters() * ebytes) + extra <= budget;
    return p;
  };

  for (const auto& size : split(opt["sizes"])) {
    const ModelSpec spec = spec_of(parse_shape(size));
    LoadOptions load;
    load.device = device;
    auto model = make_synthetic_model(spec, 0, load, dtype);
    for (int64_t T : Ts) {
      at::Tensor ids;
      const Encoded s = bench::random_sample(T, 1, 257, &ids);
      for (const auto& m : methods) {
        Point p = plan_point(spec, size, m, T);
        gpu_base = allocated_now();
        memory_start();
        const double t0 = bench::now_seconds();
        double scale = 1;
        if (m == "forward") {
          at::NoGradGuard ng;
          ForwardRequest req;
          req.input_ids = ids.slice(0, 0, T).view({1, T}).to(device);
          req.logit_positions = at::tensor(std::vector<int64_t>{T - 1}, at::kLong);
          model->forward(req);
        } else {
          Encoded e = s;
          if (m == "atman" && atman_positions < T) {
            // Its first positions only; then scaled to every position by the tokens each
            // perturbation's forward covers (T - i for position i).
            std::fill(e.explain_mask.begin() + atman_positions, e.explain_mask.end(), 0);
            double all = 0, some = 0;
            for (int64_t i = 0; i < T; ++i) {
              all += static_cast<double>(T - i);
              if (i < atman_positions) some += static_cast<double>(T - i);
            }
            scale = all / some;
          }
          ExplainContext ctx;
          explainers[m]->explain(*model, e, ctx);
        }
#ifdef XAI_WITH_CUDA
        if (device.is_cuda()) torch::cuda::synchronize();
#endif
        p.seconds = (bench::now_seconds() - t0) * scale;
        p.mb = memory_peak() / 1e6;
        p.ran = true;
        report(p);
      }
    }
  }
  // Larger shapes: planned only (the budget says where each method stops fitting).
  for (const auto& size : split(opt["plan-sizes"])) {
    const ModelSpec spec = spec_of(parse_shape(size));
    for (int64_t T : Ts) {
      for (const auto& m : methods) {
        report(plan_point(spec, size, m, T));
      }
    }
  }
  const std::string svg = opt["dir"] + "/scaling.svg";
  write_svg(svg, points);
  std::printf("table: %s/scaling.jsonl; plot: %s\n", opt["dir"].c_str(), svg.c_str());
  return 0;
}
