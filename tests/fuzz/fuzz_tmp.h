// A private scratch folder per fuzzer process, for the entry points that read files by path;
// removed when the process exits normally.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace xai::fuzz {

// $TMPDIR when set (scripts/fuzz.sh points it at a folder in /dev/shm that it removes, even after
// a crash), else /dev/shm, else /tmp.
inline const std::string& scratch_dir() {
  // Never destroyed: the atexit handler below runs after static destructors would have.
  static const std::string& dir = *new std::string([] {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/dev/shm";
    if (access(base.c_str(), W_OK) != 0) base = "/tmp";
    std::string templ = base + "/xai-fuzz-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      std::perror("xai-fuzz: mkdtemp");
      std::abort();
    }
    return templ;
  }());
  static const bool cleanup = [] {
    return std::atexit([] {
             std::error_code ec;
             std::filesystem::remove_all(dir, ec);
           }) == 0;
  }();
  (void)cleanup;
  return dir;
}

inline void write_file(const std::string& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  if (!out) {
    std::fprintf(stderr, "xai-fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace xai::fuzz
