#include "framework/tensor_io/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "framework/common/error.h"

namespace xai {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // same cap as the reference implementation

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

const DTypeRow& row(DType d) {
  for (const auto& r : kDTypes)
    if (r.dtype == d) return r;
  throw Error("internal: unknown DType");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The offset of the first byte that is not well-formed UTF-8, or npos.
size_t invalid_utf8_at(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

TensorInfo read_entry(const std::string& name, const nlohmann::json& v, uint64_t data_bytes,
                      const std::string& path) {
  const std::string where = str_cat(path, ": tensor '", name, "'");
  if (!v.is_object()) throw Error(where + ": entry is not an object");
  if (!v.contains("dtype") || !v["dtype"].is_string()) throw Error(where + ": missing 'dtype'");
  if (!v.contains("shape") || !v["shape"].is_array()) throw Error(where + ": missing 'shape'");
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
      v["data_offsets"].size() != 2) {
    throw Error(where + ": missing 'data_offsets' [begin, end]");
  }
  TensorInfo info;
  info.name = name;
  const std::string dt = v["dtype"].get<std::string>();
  bool known = false;
  for (const auto& r : kDTypes) {
    if (dt == r.name) {
      info.dtype = r.dtype;
      known = true;
    }
  }
  if (!known) {
    throw Error(str_cat(where, ": unsupported dtype '", dt,
                        "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"));
  }
  uint64_t numel = 1;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      throw Error(where + ": shape entries must be non-negative integers");
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / dim)) {
      throw Error(where + ": shape overflows");
    }
    numel *= dim;
    info.shape.push_back(static_cast<int64_t>(dim));
  }
  const auto& off = v["data_offsets"];
  if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    throw Error(where + ": data_offsets must be non-negative integers");
  }
  info.begin = off[0].get<uint64_t>();
  info.end = off[1].get<uint64_t>();
  if (info.begin > info.end) {
    throw Error(str_cat(where, ": data_offsets [", info.begin, ", ", info.end, "] are reversed"));
  }
  if (info.end > data_bytes) {
    throw Error(str_cat(where, ": data_offsets [", info.begin, ", ", info.end,
                        "] run past the end of the data buffer (", data_bytes,
                        " bytes); the file is truncated"));
  }
  const uint64_t need = numel * dtype_size(info.dtype);
  if (info.end - info.begin != need) {
    throw Error(str_cat(where, ": data_offsets hold ", info.end - info.begin, " bytes but ", dt,
                        " ", shape_str(info.shape), " needs ", need));
  }
  return info;
}

// The tensors, by offset, must tile [0, data_bytes): no overlap, no gap, nothing left over.
void check_coverage(const std::vector<TensorInfo>& tensors, uint64_t data_bytes,
                    const std::string& path) {
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const char* hint =
      " (HINT: the header or its 8-byte length field is damaged; download the file again)";
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (t->begin < covered) {
      throw Error(str_cat(path, ": tensors '", prev->name, "' [", prev->begin, ", ", prev->end,
                          ") and '", t->name, "' [", t->begin, ", ", t->end, ") overlap"));
    }
    if (t->begin > covered) {
      throw Error(str_cat(
          path, ": tensor '", t->name, "' starts at byte ", t->begin, " of the data buffer but ",
          prev ? str_cat("the tensor before it ('", prev->name, "') ends at ", covered)
               : std::string("no tensor starts at byte 0"),
          ": ", t->begin - covered, " bytes belong to no tensor", hint));
    }
    covered = t->end;
    prev = t;
  }
  if (covered != data_bytes) {
    throw Error(str_cat(path, ": the tensors cover ", covered,
                        " bytes but the data buffer after the ", "header holds ", data_bytes, " (",
                        data_bytes - covered, " bytes belong to no tensor)", hint));
  }
}

}  // namespace

const char* dtype_name(DType d) { return row(d).name; }
size_t dtype_size(DType d) { return row(d).size; }
bool is_floating(DType d) {
  return d == DType::kF64 || d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size,
                                           const std::string& path) {
  if (size < 8) {
    throw Error(str_cat(path, ": truncated safetensors file (", size,
                        " bytes; it must start with an 8-byte header length)"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8) {
    throw Error(str_cat(path, ": header length ", n, " runs past the end of the file (", size,
                        " bytes); the file is truncated or not safetensors"));
  }
  if (n > kMaxHeaderBytes) {
    throw Error(str_cat(path, ": header length ", n, " is larger than the 100 MiB limit"));
  }
  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_bytes = size - out.data_start;
  const uint8_t* h = data + 8;
  if (n < 2 || h[0] != '{') {
    throw Error(str_cat(path, ": the header does not start with '{' (header length ", n,
                        "); the file is damaged or not safetensors"));
  }
  if (const size_t bad = invalid_utf8_at(h, static_cast<size_t>(n)); bad != std::string::npos) {
    throw Error(str_cat(path, ": the header is not valid UTF-8 (byte ", bad,
                        " of the header); the file is damaged or not safetensors"));
  }
  // The writer pads the JSON with spaces to keep the data aligned; nothing else may follow it.
  uint64_t json_end = n;
  while (json_end > 0 && h[json_end - 1] == ' ') --json_end;
  if (json_end == 0 || h[json_end - 1] != '}') {
    throw Error(str_cat(path, ": malformed header JSON: it does not end with '}' before its space ",
                        "padding (header length ", n,
                        "); the header or its length field is damaged"));
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(h, h + json_end);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(path, ": malformed header JSON: ", e.what()));
  }
  if (!header.is_object()) throw Error(str_cat(path, ": header JSON is not an object"));

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(str_cat(path, ": __metadata__ is not an object"));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          throw Error(str_cat(path, ": __metadata__['", m.key(), "'] is not a string"));
        }
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    out.tensors.push_back(read_entry(name, v, data_bytes, path));
  }
  check_coverage(out.tensors, data_bytes, path);
  return out;
}

}  // namespace xai
