// Host (CPU) allocator settings the xai tools apply at start-up.
#pragma once

#include <cstddef>

namespace xai {

// How the C library's malloc serves tensors (runtime.host_memory):
// - kFast (the default): blocks from 8 MB up are mapped from the OS and returned when freed;
//   smaller ones come from the heap, which keeps freed blocks for reuse. Fast, but resident
//   memory then runs 1.05-2.3x the live tensor bytes, and the same explanation's peak moves by up
//   to 27% between processes with what ran before (docs/performance.md, "Memory planner").
// - kCompact: blocks from 64 KB up are mapped and returned: resident memory tracks live tensors
//   (within a few percent, the same in every process), at the cost of a page fault per fresh
//   page (on a GPT-2-small shape: AtMan 1.43x the time at T = 128, Chefer and Input x Gradient
//   1.2-1.9x at T = 256).
// glibc's default (a threshold raised up to 32 MB each time a large block is freed) kept 279-321
// MB of AtMan's fast path (GPT-2-small, T = 512, B = 8) resident against 207 MB at a fixed 8 MB.
enum class HostMemory { kFast, kCompact };

// The mmap threshold of a mode, in bytes: the planner counts tensors below it as heap blocks.
size_t host_mmap_threshold(HostMemory mode);

// Holds glibc's mmap threshold at the mode's, unless MALLOC_MMAP_THRESHOLD_ is set in the
// environment (glibc's own tunable then wins). No effect off glibc. Takes effect for blocks
// allocated from then on; may be called again to change the mode.
void tune_host_allocator(HostMemory mode = HostMemory::kFast);
// The mode last applied (kFast before any call).
HostMemory host_memory_mode();

// Memory the kernel says can be given to a process without swapping (/proc/meminfo MemAvailable),
// in bytes; -1 when unknown (not Linux).
long long available_memory_bytes();

}  // namespace xai
