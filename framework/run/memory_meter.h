// Peak memory of a stretch of work beyond what was in use when it started: resident memory on
// CPU (Linux /proc), so an explainer's cost can be reported beside its time. Pages of mapped files
// read in meanwhile (a checkpoint's weights touched for the first time) are not the work's memory:
// their growth is taken off the peak, so the first explanation of a process reads as the second.
#pragma once

#include <cstdint>

namespace xai {

class MemoryMeter {
 public:
  // Starts a measurement: returns cached heap to the OS and restarts the kernel's peak counter.
  void start();
  // Peak bytes in use since start() beyond the amount at start(); 0 if unmeasurable.
  int64_t peak_extra_bytes() const;
  // The same with the pages of mapped files counted: what a run whose weights are streamed from
  // a mapped checkpoint holds at its peak, weights included.
  int64_t peak_total_extra_bytes() const;

  static int64_t resident_bytes();
  static int64_t peak_resident_bytes();
  // Resident pages of mapped files (RssFile + RssShmem of /proc/self/status).
  static int64_t file_resident_bytes();
  // Resident memory the process allocated itself (RssAnon): not the pages of files it maps.
  static int64_t anonymous_resident_bytes();

  // Tensor bytes: from the first call on, every LibTorch CPU allocation passes through a counting
  // allocator, so the peak of live tensor bytes is known exactly (not the mapped weights, not
  // what the C library keeps cached). Resident memory moves with that cache by 10-40% between
  // processes for the same work; the tensor peak is the same every time, the planner's
  // deterministic yardstick. Costs one locked map update per allocation.
  static void count_tensor_allocations();
  static bool counting_tensors();
  static int64_t live_tensor_bytes();  // 0 when not counting
  // Peak live tensor bytes since start() beyond those live at start(); -1 when not counting.
  int64_t peak_tensor_extra_bytes() const;

 private:
  int64_t base_ = 0;
  int64_t file_base_ = 0;
  int64_t tensor_base_ = 0;
};

}  // namespace xai
