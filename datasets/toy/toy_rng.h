// Internal to the toy generators (toy_task.cpp, toy_classify.cpp): a seeded RNG and a string hash
// that give the same numbers on every platform and standard library (no std distributions).
#pragma once

#include <cstdint>
#include <string>

namespace xai::toy {

// SplitMix64: small, fast, and the same numbers everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (multiply-shift; the bias is far below anything measurable here).
  int below(int n) {
    return static_cast<int>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >>
                            64);
  }
  bool coin() { return (next() >> 63) != 0; }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t state_;
};

inline uint64_t fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace xai::toy
