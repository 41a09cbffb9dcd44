#include "framework/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "framework/common/error.h"

namespace xai {

namespace {

// Every live mapping, so release() touches file-backed pages only (MADV_DONTNEED on anonymous
// memory would zero it).
std::mutex& mappings_mutex() {
  static std::mutex m;
  return m;
}
std::map<const uint8_t*, size_t>& mappings() {
  static std::map<const uint8_t*, size_t> m;
  return m;
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(str_cat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(str_cat(path, ": cannot stat: ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(str_cat(path, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  uint8_t* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(str_cat(path, ": cannot mmap ", size, " bytes: ", std::strerror(err)));
    }
    data = static_cast<uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  if (data != nullptr) {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings()[data] = size;
  }
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}


size_t MappedFile::release(const void* p, size_t n) {
  const auto* begin = static_cast<const uint8_t*>(p);
  const uint8_t* end = begin + n;
  {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    auto it = mappings().upper_bound(begin);
    if (it == mappings().begin()) return 0;
    --it;
    if (end > it->first + it->second) return 0;
  }
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t a = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t b = reinterpret_cast<uintptr_t>(end) / page * page;
  if (b <= a) return 0;
  if (::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED) != 0) return 0;
  return b - a;
}

void MappedFile::prefault() const {
  if (data_ == nullptr) return;
  ::madvise(data_, size_, MADV_WILLNEED);  // start the reads; the loop below waits for them
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const volatile uint8_t* p = data_;
  uint8_t sink = 0;
  for (size_t i = 0; i < size_; i += page) sink ^= p[i];
  sink ^= p[size_ - 1];
  (void)sink;
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings().erase(data_);
  }
  ::munmap(data_, size_);
}

}  // namespace xai
