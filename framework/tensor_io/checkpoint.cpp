#include "framework/tensor_io/checkpoint.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/common/error.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  XAI_CHECK(in.good(), p.string(), ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint ck;
  ck.dir_ = dir;
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw Error(str_cat(dir, ": checkpoint folder does not exist"));
  const fs::path index_path = root / "model.safetensors.index.json";
  const fs::path single_path = root / "model.safetensors";

  if (fs::exists(index_path)) {
    ck.sharded_ = true;
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(read_text(index_path));
    } catch (const nlohmann::json::exception& e) {
      throw Error(str_cat(index_path.string(), ": malformed JSON: ", e.what()));
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw Error(str_cat(index_path.string(), ": missing object 'weight_map'"));
    }
    std::map<std::string, size_t> shard_of_file;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        throw Error(str_cat(index_path.string(), ": weight_map['", it.key(), "'] is not a string"));
      }
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == "." || file == "..") {
        throw Error(str_cat(index_path.string(), ": weight_map['", it.key(), "'] = '", file,
                            "' is not a file name in the checkpoint folder"));
      }
      auto found = shard_of_file.find(file);
      if (found == shard_of_file.end()) {
        const fs::path shard_path = root / file;
        if (!fs::exists(shard_path)) {
          throw Error(str_cat(shard_path.string(), ": missing shard listed in ",
                              index_path.filename().string(), " (needed for tensor '", it.key(),
                              "'). HINT: download or copy every model-*.safetensors file"));
        }
        found = shard_of_file.emplace(file, ck.shards_.size()).first;
        ck.shards_.push_back(SafetensorsFile::open(shard_path.string()));
        ck.files_.push_back(shard_path.string());
      }
      const auto& shard = ck.shards_[found->second];
      if (shard->find(it.key()) == nullptr) {
        throw Error(str_cat(shard->path(), ": tensor '", it.key(), "' is listed in ",
                            index_path.filename().string(), " but not in this shard"));
      }
      ck.where_[it.key()] = found->second;
    }
    // Tensors a shard holds but the index forgot are still usable.
    for (size_t s = 0; s < ck.shards_.size(); ++s) {
      for (const auto& t : ck.shards_[s]->tensors()) ck.where_.emplace(t.name, s);
    }
    return ck;
  }

  if (fs::exists(single_path)) {
    ck.shards_.push_back(SafetensorsFile::open(single_path.string()));
    ck.files_.push_back(single_path.string());
    for (const auto& t : ck.shards_[0]->tensors()) ck.where_[t.name] = 0;
    return ck;
  }

  std::string hint = "HINT: save the model with save_pretrained(..., safe_serialization=True)";
  if (fs::exists(root / "pytorch_model.bin") || fs::exists(root / "pytorch_model.bin.index.json")) {
    hint = "PyTorch pickle checkpoints (pytorch_model.bin) are not read. " + hint;
  }
  throw Error(str_cat(dir, ": no model.safetensors or model.safetensors.index.json found. ", hint));
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, shard] : where_) out.push_back(name);
  return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(str_cat(dir_, ": checkpoint has no tensor '", name, "'"));
  return *shards_[it->second]->find(name);
}

at::Tensor Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(str_cat(dir_, ": checkpoint has no tensor '", name, "'"));
  return shards_[it->second]->get(name);
}

at::Tensor Checkpoint::get_slice(const std::string& name, int64_t dim, int64_t start,
                                 int64_t length) const {
  const TensorInfo& ti = info(name);
  const int64_t rank = static_cast<int64_t>(ti.shape.size());
  XAI_CHECK(dim >= 0 && dim < rank, dir_, ": tensor '", name, "' has no dimension ", dim);
  XAI_CHECK(start >= 0 && length >= 0 && start + length <= ti.shape[dim], dir_, ": slice [", start,
            ", ", start + length, ") of dimension ", dim, " is outside tensor '", name, "' (size ",
            ti.shape[dim], ")");
  return get(name).narrow(dim, start, length);
}

void Checkpoint::prefault() const {
  for (const auto& s : shards_) s->prefault();
}

uint64_t Checkpoint::total_file_bytes() const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->file_bytes();
  return n;
}

}  // namespace xai
