// Linked into every fuzz target: aborts as soon as the live heap passes XAI_FUZZ_HEAP_LIMIT_MB
// (default 512), so runaway memory is a fast crash whose stack shows the allocating code.
//
// libFuzzer's own -rss_limit_mb report prints a heap profile first, and with the millions of
// small blocks a runaway parser makes (yaml-cpp's LoadAll on ",": yaml-cpp issue #1040) that took
// over five minutes per report on 2 cores, long enough to stall CI before any reproducer is
// written. ASan's redzones and quarantine make the resident size about twice the live heap, so
// scripts/fuzz.sh sets this limit to a quarter of -rss_limit_mb, which stays on as the backstop.
#include <sanitizer/allocator_interface.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

// Counted here: the runtime's __sanitizer_get_current_allocated_bytes() lags far behind. Signed,
// since blocks allocated before the hooks were installed are subtracted when they are freed.
std::atomic<int64_t> live_bytes{0};
int64_t limit_bytes = 0;

void on_malloc(const volatile void*, size_t size) {
  const int64_t n = static_cast<int64_t>(size);
  const int64_t live = live_bytes.fetch_add(n, std::memory_order_relaxed) + n;
  if (live > limit_bytes) {
    live_bytes.store(0);  // fprintf below allocates too; report once
    std::fprintf(stderr,
                 "xai-fuzz: BUG: runaway memory: %lld MB live on the heap, over the %lld MB limit "
                 "(XAI_FUZZ_HEAP_LIMIT_MB)\n",
                 static_cast<long long>(live >> 20), static_cast<long long>(limit_bytes >> 20));
    std::abort();
  }
}

void on_free(const volatile void* p) {
  live_bytes.fetch_sub(
      static_cast<int64_t>(__sanitizer_get_allocated_size(const_cast<const void*>(p))),
      std::memory_order_relaxed);
}

[[maybe_unused]] const bool installed = [] {
  const char* mb = std::getenv("XAI_FUZZ_HEAP_LIMIT_MB");
  limit_bytes = static_cast<int64_t>(mb && *mb ? std::atol(mb) : 512) << 20;
  return __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
}();

}  // namespace
