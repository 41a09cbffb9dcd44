// A read-only view of a whole file through mmap; pages are read from disk only when touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace xai {

class MappedFile {
 public:
  // Throws xai::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The mapping is private copy-on-write: a tensor viewing it may be written to without
  // touching the file.
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads every page into this process now (one byte a page), so later work does not pay for it:
  // neither the first explanation's seconds nor its memory then include paging in the weights.
  void prefault() const;

  // Drops the pages of [p, p + n) that lie wholly inside a live mapping of some file from this
  // process's resident memory (madvise MADV_DONTNEED): they are read again from the file (or the
  // page cache) when next touched. Memory outside every mapping is left alone, so any tensor may be
  // passed. Returns the bytes released.
  static size_t release(const void* p, size_t n);

 private:
  MappedFile(std::string path, uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace xai
