// Reader and writer for the safetensors format: an 8-byte little-endian header length, a JSON
// header, then one byte buffer. Reading is by mmap; a tensor is a zero-copy view of the mapping.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace xai {

class MappedFile;

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

const char* dtype_name(DType d);  // "F32", ...
size_t dtype_size(DType d);       // bytes per element
at::ScalarType to_scalar_type(DType d);
DType from_scalar_type(at::ScalarType t);  // throws for types safetensors/LibTorch cannot share
bool is_floating(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets into the data buffer (after the header)
  uint64_t end = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps the file and validates the header completely: header length within the file, JSON
  // well-formed, every dtype known, every [begin, end) inside the buffer and of the size
  // numel * dtype_size, no two tensors overlapping. Throws xai::Error naming the file and problem.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);

  const std::string& path() const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(const std::string& name) const;               // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t file_bytes() const;

  // A CPU tensor viewing the mapped bytes (no copy; pages load lazily on first touch). Copies only
  // when the data is not aligned to its element size. Throws when the name is absent.
  at::Tensor get(const std::string& name) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device, made contiguous on CPU) in the given order, with an optional string
// metadata map. The file appears atomically (written to a temporary name, then renamed).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace xai
