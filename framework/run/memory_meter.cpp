#include "framework/run/memory_meter.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <string>
#include <unordered_map>

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

// Wraps LibTorch's CPU allocator and counts what is live: each block's size by its address
// (the data pointer is also the context, so raw allocations work as with the default allocator).
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  // LibTorch 1.13 declares allocate() const, 2.3 and later non-const: both are given (without
  // `override`, which only one of them would accept), and each overrides where it exists.
  c10::DataPtr allocate(size_t n) const { return counted(n); }
  c10::DataPtr allocate(size_t n) { return counted(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  // Pure virtual from LibTorch 2.3 on; a plain member before.
  void copy_data(void* dest, const void* src, std::size_t count) const {
    std::memcpy(dest, src, count);
  }

  static std::atomic<int64_t> live, peak;

 private:
  c10::DataPtr counted(size_t n) const {
    void* p = inner_->raw_allocate(n);
    {
      std::lock_guard<std::mutex> lock(mu());
      sizes()[p] = n;
    }
    const int64_t now = live += static_cast<int64_t>(n);
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  static void release(void* p) {
    if (p == nullptr) return;
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu());
      auto it = sizes().find(p);
      if (it != sizes().end()) {
        n = it->second;
        sizes().erase(it);
      }
    }
    live -= static_cast<int64_t>(n);
    the_inner()->raw_deleter()(p);
  }
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::unordered_map<void*, size_t>& sizes() {
    static auto* m = new std::unordered_map<void*, size_t>();  // outlives static tensors
    return *m;
  }

 public:
  static c10::Allocator*& the_inner() {
    static c10::Allocator* a = nullptr;
    return a;
  }

 private:
  c10::Allocator* inner_;
};

std::atomic<int64_t> CountingAllocator::live{0};
std::atomic<int64_t> CountingAllocator::peak{0};
std::atomic<bool> g_counting{false};

}  // namespace

void MemoryMeter::count_tensor_allocations() {
  static std::once_flag once;
  std::call_once(once, [] {
    c10::Allocator* inner = c10::GetCPUAllocator();
    CountingAllocator::the_inner() = inner;
    static auto* counting = new CountingAllocator(inner);  // never destroyed: blocks outlive it
    c10::SetCPUAllocator(counting, /*priority=*/1);
    g_counting = c10::GetCPUAllocator() == counting;
  });
}

bool MemoryMeter::counting_tensors() { return g_counting; }

int64_t MemoryMeter::live_tensor_bytes() { return g_counting ? CountingAllocator::live.load() : 0; }

int64_t MemoryMeter::peak_tensor_extra_bytes() const {
  if (!g_counting) return -1;
  return std::max<int64_t>(0, CountingAllocator::peak.load() - tensor_base_);
}

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
  if (g_counting) {
    tensor_base_ = CountingAllocator::live.load();
    CountingAllocator::peak = tensor_base_;  // one measurement at a time per process
  }
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
