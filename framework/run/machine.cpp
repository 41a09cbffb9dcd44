#include "framework/run/machine.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

#include "framework/common/threads.h"
#include "framework/model/attention_cpu.h"

namespace xai {

double matmul_ceiling_gflops(int reps) {
  at::NoGradGuard no_grad;
  const at::Tensor a = at::randn({1024, 1024}), b = at::randn({1024, 1024});
  at::Tensor c = at::mm(a, b);  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return 2.0 * 1024 * 1024 * 1024 / t[t.size() / 2] / 1e9;
}

std::string machine_report_json() {
  nlohmann::ordered_json j;
  j["cpu"] = cpu_model_name();
  j["threads"] = at::get_num_threads();
  j["matmul_gflops"] = matmul_ceiling_gflops();
  j["attention_kernels"] = nlohmann::ordered_json::array();
  for (const AttentionChoice& c : attention_choices()) {
    j["attention_kernels"].push_back({{"class", c.shape_class},
                                      {"kernel", c.kernel},
                                      {"fused_ms", c.fused_ms},
                                      {"unfused_ms", c.unfused_ms},
                                      {"from_machine_file", c.from_file}});
  }
  return j.dump();
}

}  // namespace xai
