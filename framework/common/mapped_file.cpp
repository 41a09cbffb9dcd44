#include "framework/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "framework/common/error.h"

namespace xai {

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
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
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
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace xai
