// Internal to the toy generators (toy_task.cpp, toy_classify.cpp): a seeded RNG and a string hash
// that give the same numbers on every platform and standard library (no std distributions).
#pragma once

#include <cstdint>
#include <string>

#include "framework/common/rng.h"

namespace xai::toy {

// SplitMix64 (framework/common/rng.h), with below() for the generators' int counts.
class Rng : public SplitMix64 {
 public:
  using SplitMix64::SplitMix64;
  int below(int n) { return static_cast<int>(SplitMix64::below(static_cast<uint64_t>(n))); }
};

inline uint64_t fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace xai::toy
