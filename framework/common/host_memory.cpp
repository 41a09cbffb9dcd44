#include "framework/common/host_memory.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace xai {
namespace {
std::atomic<HostMemory> g_mode{HostMemory::kFast};
}  // namespace

size_t host_mmap_threshold(HostMemory mode) {
  return mode == HostMemory::kCompact ? size_t{64} << 10 : size_t{8} << 20;
}

void tune_host_allocator(HostMemory mode) {
  g_mode = mode;
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(host_mmap_threshold(mode)));
#endif
}

HostMemory host_memory_mode() { return g_mode; }

long long available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) == 0) return std::stoll(line.substr(13)) * 1024;  // kB
  }
  return -1;
}

}  // namespace xai
