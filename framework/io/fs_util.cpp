#include "framework/io/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "framework/common/error.h"

namespace xai::fsutil {
namespace {

[[noreturn]] void sys_fail(const std::string& what, const std::string& path) {
  throw Error(str_cat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

// Closes a POSIX descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

void append_durably(const std::string& path, const std::string& text) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (fd.get() < 0) sys_fail("open", path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      sys_fail("append to", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) sys_fail("fsync", path);
}

void drop_partial_line(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return;
    sys_fail("open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) sys_fail("stat", path);
  off_t end = st.st_size;
  char c = 0;
  // Walk back from the end to just after the last '\n' (or the start).
  while (end > 0) {
    if (::pread(fd.get(), &c, 1, end - 1) != 1) sys_fail("read", path);
    if (c == '\n') break;
    --end;
  }
  if (end != st.st_size) {
    if (::ftruncate(fd.get(), end) != 0) sys_fail("truncate", path);
    if (::fsync(fd.get()) != 0) sys_fail("fsync", path);
  }
}

void sync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) sys_fail("open directory", dir);
  if (::fsync(fd.get()) != 0 && errno != EINVAL && errno != EROFS) sys_fail("fsync", dir);
}

void sync_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) sys_fail("open", path);
  if (::fsync(fd.get()) != 0) sys_fail("fsync", path);
}

int64_t free_bytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

std::string no_space_note(const std::string& path, int64_t need) {
  const int64_t free = free_bytes(path);
  if (free < 0 || free >= need) return "";
  const std::string amount =
      free >= (int64_t{1} << 20) ? str_cat(free >> 20, " MB") : str_cat((free + 1023) >> 10, " KB");
  return str_cat("no space left on device (", amount, " free where ", path, " is)");
}

}  // namespace xai::fsutil
