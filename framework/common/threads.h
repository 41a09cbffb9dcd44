// How many compute threads a command may use: bounded by the cores this process may run on, so a
// typo like `--threads 1000` cannot spawn hundreds of threads and stall the machine.
#pragma once

#include <cstdint>
#include <string>

namespace xai {

// The cores this process may run on (its CPU affinity, which Slurm and taskset restrict), >= 1.
int usable_cores();

struct ThreadChoice {
  int threads = 1;
  std::string warning;  // non-empty when the request was cut to the core count
};
// `requested` threads for `option` (named in messages, e.g. "--threads" or
// "exp.yaml:30: runtime.threads"): an xai::Error when it is below 1; cut to usable_cores() with a
// warning when above.
ThreadChoice choose_threads(int64_t requested, const std::string& option);

// The CPU's model name as the kernel reports it (/proc/cpuinfo "model name", e.g. "AMD EPYC"),
// "unknown" when it does not say.
std::string cpu_model_name();

}  // namespace xai
