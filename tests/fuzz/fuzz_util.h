// Shared by the libFuzzer targets: the rule that an entry point may only return or throw
// xai::Error, and checks of the promises a successful parse makes, both turned into crashes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "framework/common/error.h"

namespace xai::fuzz {

// Aborts with a message: libFuzzer reports the abort as a crash and keeps the input.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "xai-fuzz: BUG: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs fn and swallows xai::Error, the documented way to reject an input. Any other exception
// (std::out_of_range from a container, nlohmann's json::exception, YAML::Exception,
// std::bad_alloc) is deliberately not caught anywhere: with no handler, std::terminate runs at the
// throw itself, so libFuzzer's crash report carries the stack of the throw site and libstdc++
// prints the exception's type and what().
template <typename Fn>
void expect_only_xai_errors(const char* entry_point, Fn&& fn) {
  // XAI_FUZZ_VERBOSE=1 prints each rejection, to see what a seed or reproducer exercises.
  static const bool verbose = std::getenv("XAI_FUZZ_VERBOSE") != nullptr;
  try {
    fn();
  } catch (const xai::Error& e) {
    if (verbose) std::fprintf(stderr, "xai-fuzz: %s: xai::Error: %s\n", entry_point, e.what());
  }
}

}  // namespace xai::fuzz

// Like assert, but always on and with a message naming the broken promise.
#define XAI_FUZZ_CHECK(cond, ...)                                                                 \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      ::xai::fuzz::fail(::xai::str_cat(__FILE__, ":", __LINE__, ": ", #cond, ": ", __VA_ARGS__)); \
  } while (0)
