// A thin RAII layer over the HDF5 C API (serial 1.10): files, groups, extendible chunked
// datasets and attributes, with every failure turned into a one-line xai::Error that names the
// file, the object path and HDF5's own reason. HDF5's stderr error printing is switched off.
//
// Not thread-safe (serial HDF5 is not): use one thread at a time.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/common/error.h"

namespace xai::h5 {

// The file is locked by another process that has it open for writing (HDF5 file locking).
class FileLockedError : public Error {
 public:
  using Error::Error;
};

// Owns one HDF5 identifier and closes it with the matching H5*close function.
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Id(Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();     // closes now; errors while closing are ignored
  hid_t release();  // gives up ownership without closing

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// The in-memory (native) type of each element type the results use. Files store the
// little-endian standard type of the same width.
template <typename T>
struct Type;
template <>
struct Type<float> {
  static hid_t mem() { return H5T_NATIVE_FLOAT; }
  static hid_t file() { return H5T_IEEE_F32LE; }
};
template <>
struct Type<double> {
  static hid_t mem() { return H5T_NATIVE_DOUBLE; }
  static hid_t file() { return H5T_IEEE_F64LE; }
};
template <>
struct Type<int64_t> {
  static hid_t mem() { return H5T_NATIVE_INT64; }
  static hid_t file() { return H5T_STD_I64LE; }
};
template <>
struct Type<uint8_t> {
  static hid_t mem() { return H5T_NATIVE_UINT8; }
  static hid_t file() { return H5T_STD_U8LE; }
};

// How an extendible dataset is chunked and compressed.
struct ChunkSpec {
  int64_t row_width = 1;      // 1: a 1-D dataset; k > 1: (rows, k)
  int64_t chunk_rows = 4096;  // rows per chunk
  int deflate_level = 4;      // 0: no compression
  bool shuffle = true;        // byte shuffle before deflate
};

// A group or a dataset: its identifier plus the file and object path used in error messages.
class Object {
 public:
  const std::string& file_path() const { return file_; }
  const std::string& path() const { return path_; }
  hid_t id() const { return id_.get(); }

  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;  // in the file's (name) order
  bool attr_is_string(const std::string& name) const;
  // Strings are fixed-length UTF-8 (null-padded); an existing attribute is replaced.
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, int64_t value);
  std::string string_attr(const std::string& name) const;
  int64_t int_attr(const std::string& name) const;
  void delete_attr(const std::string& name);

  // Throws xai::Error: "HDF5: <what> '<path>' in <file>: <HDF5 reason>".
  [[noreturn]] void fail(const std::string& what) const;

 protected:
  Object() = default;
  Object(Id id, std::string file, std::string path)
      : id_(std::move(id)), file_(std::move(file)), path_(std::move(path)) {}
  std::string child_path(const std::string& name) const;

  Id id_;
  std::string file_;
  std::string path_;
};

class Dataset : public Object {
 public:
  Dataset() = default;
  Dataset(Id id, std::string file, std::string path);

  int64_t rows() const;       // extent of the first dimension
  int64_t row_width() const;  // elements per row (1 for a 1-D dataset)
  std::vector<H5Z_filter_t> filters() const;

  // Extends the first dimension by `rows` and writes rows * row_width() elements there.
  template <typename T>
  void append(const T* data, int64_t rows) {
    append_raw(Type<T>::mem(), data, rows);
  }
  template <typename T>
  void append(const std::vector<T>& data) {
    append_raw(Type<T>::mem(), data.data(), static_cast<int64_t>(data.size()) / row_width());
  }
  // Cuts the first dimension to `rows` (<= rows()): drops rows a failed append left behind.
  void truncate_rows(int64_t rows);
  // Reads rows [first, first + count) into out (count * row_width() elements).
  template <typename T>
  void read_rows(int64_t first, int64_t count, T* out) const {
    read_raw(Type<T>::mem(), first, count, out);
  }
  template <typename T>
  std::vector<T> read_all() const {
    const int64_t n = rows();
    std::vector<T> out(static_cast<size_t>(n * row_width()));
    read_raw(Type<T>::mem(), 0, n, out.data());
    return out;
  }

 private:
  void append_raw(hid_t mem_type, const void* data, int64_t rows);
  void read_raw(hid_t mem_type, int64_t first, int64_t count, void* out) const;
  std::vector<hsize_t> dims() const;
};

class Group : public Object {
 public:
  Group() = default;
  Group(Id id, std::string file, std::string path)
      : Object(std::move(id), std::move(file), std::move(path)) {}

  // True when the relative path (may contain '/') names an existing link.
  bool has(const std::string& rel) const;
  bool is_group(const std::string& rel) const;  // has(rel) and it is a group
  std::vector<std::string> children() const;    // link names, sorted by name

  Group open_group(const std::string& rel) const;
  // Copies the object `name` of `src` (a group with everything under it, or a dataset) to `name`
  // here, possibly in another file.
  void copy_from(const Group& src, const std::string& name);
  Group create_group(const std::string& name);
  Group require_group(const std::string& name);  // open, or create when missing
  Dataset open_dataset(const std::string& rel) const;
  // An empty dataset of T, extendible along its first dimension.
  template <typename T>
  Dataset create_dataset(const std::string& name, const ChunkSpec& spec) {
    return create_raw(name, Type<T>::file(), spec);
  }

 private:
  Dataset create_raw(const std::string& name, hid_t file_type, const ChunkSpec& spec);
};

enum class Access { kReadOnly, kReadWrite };

class File {
 public:
  // Creates (or truncates) a file. Objects never record times, so equal content gives equal bytes.
  static File create(const std::string& path);
  // Throws FileLockedError when another process holds the file open for writing.
  static File open(const std::string& path, Access access);

  File() = default;
  File(File&&) = default;
  File& operator=(File&&) = default;

  const std::string& path() const { return path_; }
  bool is_open() const { return id_.valid(); }
  Group root() const;
  // H5Fflush, then fsync: what was written so far is on disk when this returns.
  void flush_to_disk();
  // Closes and reports failures (the destructor closes silently).
  void close();
  // Gives the file up without closing it: after a failed write (a full disk), closing would make
  // HDF5 write its cached metadata and could damage what the last flush_to_disk left consistent.
  // The library never closes it either: it is told not to clean up at exit.
  void abandon();

 private:
  File(Id id, std::string path) : id_(std::move(id)), path_(std::move(path)) {}
  Id id_;
  std::string path_;
};

// Throws xai::Error: "HDF5: <what> '<path>' in <file>: <HDF5 reason>".
[[noreturn]] void fail_at(const std::string& file, const std::string& path,
                          const std::string& what);

// HDF5's reason for the failure just reported (outermost and innermost messages of its error
// stack), and clears the stack.
std::string take_hdf5_error();

}  // namespace xai::h5
