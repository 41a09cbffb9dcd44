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

struct ScalarRow {
  DType dtype;
  at::ScalarType scalar;
};
constexpr ScalarRow kScalars[] = {
    {DType::kF64, at::kDouble},    {DType::kF32, at::kFloat}, {DType::kF16, at::kHalf},
    {DType::kBF16, at::kBFloat16}, {DType::kI64, at::kLong},  {DType::kI32, at::kInt},
    {DType::kI16, at::kShort},     {DType::kI8, at::kChar},   {DType::kU8, at::kByte},
    {DType::kBool, at::kBool},
};

}  // namespace

at::ScalarType to_scalar_type(DType d) {
  for (const auto& r : kScalars)
    if (r.dtype == d) return r.scalar;
  throw Error("internal: unknown DType");
}
DType from_scalar_type(at::ScalarType t) {
  for (const auto& r : kScalars)
    if (r.scalar == t) return r.dtype;
  throw Error(
      str_cat("safetensors: LibTorch dtype ", c10::toString(t), " has no safetensors code"));
}

const std::string& SafetensorsFile::path() const { return file_->path(); }
uint64_t SafetensorsFile::file_bytes() const { return file_->size(); }
void SafetensorsFile::prefault() const { file_->prefault(); }

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto out = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  out->file_ = MappedFile::open(path);
  SafetensorsHeader header = parse_safetensors_header(out->file_->data(), out->file_->size(), path);
  out->data_start_ = header.data_start;
  out->metadata_ = std::move(header.metadata);
  out->tensors_ = std::move(header.tensors);
  for (size_t i = 0; i < out->tensors_.size(); ++i) out->index_[out->tensors_[i].name] = i;
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
