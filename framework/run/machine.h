// What a run's numbers were measured on, for results.json and `xai explain --json`: the CPU model,
// the intra-op threads, the float32 matmul ceiling measured now, and the attention kernels this
// process chose (framework/model/attention_cpu.h).
#pragma once

#include <string>

namespace xai {

// Median GFLOP/s of a 1024^3 float32 matmul on the current threads (about 0.2 s on 2 cores).
double matmul_ceiling_gflops(int reps = 5);

// {"cpu": ..., "threads": n, "matmul_gflops": x, "attention_kernels": [{"class", "kernel",
// "fused_ms", "unfused_ms"}, ...]} as JSON text.
std::string machine_report_json();

}  // namespace xai
