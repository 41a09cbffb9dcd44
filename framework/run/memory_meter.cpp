#include "framework/run/memory_meter.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace xai {

int64_t MemoryMeter::resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

int64_t MemoryMeter::peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return 0;
}

void MemoryMeter::start() {
  ::malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";  // the peak restarts from the current RSS
  base_ = resident_bytes();
}

int64_t MemoryMeter::peak_extra_bytes() const {
  const int64_t peak = peak_resident_bytes();
  return peak > base_ ? peak - base_ : 0;
}

}  // namespace xai
