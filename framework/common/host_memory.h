// Host (CPU) allocator settings the xai tools apply at start-up.
#pragma once

namespace xai {

// glibc's malloc raises its mmap threshold (up to 32 MB) each time a large block is freed; after
// that, tensors of a few MB come from the heap, and the freed ones stay resident in fragments. On
// AtMan's fast path (GPT-2-small shape, T = 512, B = 8) the peak extra RSS was 279-321 MB with the
// default, 207 MB with the threshold held at 8 MB, at the same forward-equivalents per
// perturbation (1 MB: 170 MB but 13% slower, from page faults on every fresh block). Holds the
// threshold at 8 MB, unless MALLOC_MMAP_THRESHOLD_ is set in the environment (glibc's own
// tunable then wins). No effect off glibc. Idempotent.
void tune_host_allocator();

// Memory the kernel says can be given to a process without swapping (/proc/meminfo MemAvailable),
// in bytes; -1 when unknown (not Linux).
long long available_memory_bytes();

}  // namespace xai
