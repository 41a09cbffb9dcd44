#include "framework/tensor_io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "framework/common/error.h"
#include "framework/common/mapped_file.h"

namespace xai {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // same cap as the reference implementation

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
  at::ScalarType scalar;
};
constexpr DTypeRow kDTypes[] = {
    {DType::kF64, "F64", 8, at::kDouble}, {DType::kF32, "F32", 4, at::kFloat},
    {DType::kF16, "F16", 2, at::kHalf},   {DType::kBF16, "BF16", 2, at::kBFloat16},
    {DType::kI64, "I64", 8, at::kLong},   {DType::kI32, "I32", 4, at::kInt},
    {DType::kI16, "I16", 2, at::kShort},  {DType::kI8, "I8", 1, at::kChar},
    {DType::kU8, "U8", 1, at::kByte},     {DType::kBool, "BOOL", 1, at::kBool},
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

}  // namespace

const char* dtype_name(DType d) { return row(d).name; }
size_t dtype_size(DType d) { return row(d).size; }
at::ScalarType to_scalar_type(DType d) { return row(d).scalar; }
bool is_floating(DType d) {
  return d == DType::kF64 || d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
}
DType from_scalar_type(at::ScalarType t) {
  for (const auto& r : kDTypes)
    if (r.scalar == t) return r.dtype;
  throw Error(
      str_cat("safetensors: LibTorch dtype ", c10::toString(t), " has no safetensors code"));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const std::string& SafetensorsFile::path() const { return file_->path(); }
uint64_t SafetensorsFile::file_bytes() const { return file_->size(); }

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto out = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  out->file_ = MappedFile::open(path);
  const MappedFile& f = *out->file_;
  const uint64_t size = f.size();
  if (size < 8) {
    throw Error(str_cat(path, ": truncated safetensors file (", size,
                        " bytes; it must start with an 8-byte header length)"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f.data()[i];
  if (n > size - 8) {
    throw Error(str_cat(path, ": header length ", n, " runs past the end of the file (", size,
                        " bytes); the file is truncated or not safetensors"));
  }
  if (n > kMaxHeaderBytes) {
    throw Error(str_cat(path, ": header length ", n, " is larger than the 100 MiB limit"));
  }
  out->data_start_ = 8 + n;
  const uint64_t data_bytes = size - out->data_start_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(f.data() + 8, f.data() + 8 + n);
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
        out->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
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
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) {
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
    out->index_[name] = out->tensors_.size();
    out->tensors_.push_back(std::move(info));
  }

  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : out->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* a = by_offset[i - 1];
    const TensorInfo* b = by_offset[i];
    if (b->begin < a->end) {
      throw Error(str_cat(path, ": tensors '", a->name, "' [", a->begin, ", ", a->end, ") and '",
                          b->name, "' [", b->begin, ", ", b->end, ") overlap"));
    }
  }
  return out;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

at::Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) throw Error(str_cat(path(), ": no tensor named '", name, "'"));
  const auto options = at::TensorOptions().dtype(to_scalar_type(info->dtype));
  uint8_t* ptr = file_->data() + data_start_ + info->begin;
  if (info->numel() == 0) return at::empty(info->shape, options);
  auto keep = file_;  // the tensor keeps the mapping alive
  at::Tensor view = at::from_blob(
      ptr, info->shape, [keep](void*) mutable { keep.reset(); }, options);
  if (reinterpret_cast<uintptr_t>(ptr) % dtype_size(info->dtype) != 0) return view.clone();
  return view;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    XAI_CHECK(t.defined(), path, ": tensor '", name, "' is undefined");
    XAI_CHECK(name != "__metadata__", path, ": '__metadata__' is not a valid tensor name");
    XAI_CHECK(!header.contains(name), path, ": duplicate tensor name '", name, "'");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const DType dt = from_scalar_type(c.scalar_type());
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * dtype_size(dt);
    header[name] = {{"dtype", dtype_name(dt)},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keeps the data buffer 8-byte aligned

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    XAI_CHECK(out.good(), tmp, ": cannot open for writing");
    uint8_t len[8];
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : cpu) {
      out.write(static_cast<const char*>(c.data_ptr()),
                static_cast<std::streamsize>(c.numel() * c.element_size()));
    }
    out.flush();
    XAI_CHECK(out.good(), tmp, ": write failed (disk full?)");
  }
  XAI_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename from ", tmp);
}

}  // namespace xai
