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

#include "framework/tensor_io/safetensors_header.h"

namespace xai {

class MappedFile;

at::ScalarType to_scalar_type(DType d);
DType from_scalar_type(at::ScalarType t);  // throws for types safetensors/LibTorch cannot share

class SafetensorsFile {
 public:
  // Maps the file and validates its layout completely (parse_safetensors_header: the header, every
  // entry, and tensors that cover the data buffer exactly). Throws xai::Error naming the file.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);

  const std::string& path() const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(const std::string& name) const;               // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t file_bytes() const;
  void prefault() const;  // reads every page of the mapping now (MappedFile::prefault)

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
