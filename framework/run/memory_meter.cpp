#include "framework/run/memory_meter.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <string>

namespace xai {
namespace {

// The sum of /proc/self/status fields given in kB ("VmHWM", "RssFile", ...), in bytes.
int64_t status_bytes(std::initializer_list<const char*> fields) {
  std::ifstream status("/proc/self/status");
  int64_t kb = 0;
  for (std::string line; std::getline(status, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    for (const char* f : fields) {
      if (line.compare(0, colon, f) == 0) kb += std::stoll(line.substr(colon + 1));
    }
  }
  return kb * 1024;
}

}  // namespace

int64_t MemoryMeter::resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

int64_t MemoryMeter::peak_resident_bytes() { return status_bytes({"VmHWM"}); }

int64_t MemoryMeter::file_resident_bytes() { return status_bytes({"RssFile", "RssShmem"}); }

int64_t MemoryMeter::anonymous_resident_bytes() { return status_bytes({"RssAnon"}); }

void MemoryMeter::start() {
  ::malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";  // the peak restarts from the current RSS
  base_ = resident_bytes();
  file_base_ = file_resident_bytes();
}

int64_t MemoryMeter::peak_extra_bytes() const {
  const int64_t peak = peak_resident_bytes();
  const int64_t paged_in = std::max<int64_t>(0, file_resident_bytes() - file_base_);
  const int64_t extra = peak - base_ - paged_in;
  return extra > 0 ? extra : 0;
}

int64_t MemoryMeter::peak_total_extra_bytes() const {
  return std::max<int64_t>(0, peak_resident_bytes() - base_);
}

}  // namespace xai
