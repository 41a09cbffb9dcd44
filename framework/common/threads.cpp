#include "framework/common/threads.h"

#include <sched.h>

#include <fstream>
#include <thread>

#include "framework/common/error.h"

namespace xai {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

ThreadChoice choose_threads(int64_t requested, const std::string& option) {
  XAI_CHECK(requested >= 1, option, " must be at least 1 (got ", requested,
            "; HINT: leave it out to use LibTorch's default)");
  ThreadChoice c;
  const int cores = usable_cores();
  if (requested > cores) {
    c.threads = cores;
    c.warning = str_cat(option, " ", requested, " is more than the ", cores,
                        " cores this process may use; using ", cores);
  } else {
    c.threads = static_cast<int>(requested);
  }
  return c;
}

std::string cpu_model_name() {
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    return name.empty() ? "unknown" : name;
  }
  return "unknown";
}

}  // namespace xai
