// The safetensors header, parsed and validated without LibTorch (so a fuzzer can drive it alone):
// an 8-byte little-endian header length, a JSON header padded with spaces, then one data buffer
// that the tensors cover exactly, in order, without gaps or overlaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xai {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

const char* dtype_name(DType d);  // "F32", ...
size_t dtype_size(DType d);       // bytes per element
bool is_floating(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets into the data buffer (after the header)
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  uint64_t data_start = 0;          // 8 + header length: where the data buffer begins
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};

// Validates the whole layout of a safetensors file of `size` bytes at `data`, as the reference
// implementation does: the header length lies within the file and under 100 MiB; the header is
// UTF-8 JSON that starts with '{' and is followed only by space padding; every entry has a known
// dtype, a shape and [begin, end) of exactly numel * dtype_size bytes; and the tensors, sorted by
// offset, cover the data buffer from its first byte to its last with no gap and no overlap (a
// header length that is a few bytes off would otherwise shift every weight). Throws xai::Error
// naming `path` and the problem.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size,
                                           const std::string& path);

}  // namespace xai
