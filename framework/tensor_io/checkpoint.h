// A Hugging Face checkpoint folder's weights: model.safetensors, or shards listed in
// model.safetensors.index.json. Tensors are looked up by name and read lazily.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/tensor_io/safetensors.h"

namespace xai {

class Checkpoint {
 public:
  // Opens every shard and checks the index against the shard headers. Throws xai::Error naming
  // the missing or inconsistent file (a missing shard, a tensor the index promises but the shard
  // lacks, no safetensors file at all).
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws naming the tensor
  at::Tensor get(const std::string& name) const;          // zero-copy CPU view
  // Rows [start, start + length) of dimension `dim` without reading the rest of the tensor.
  at::Tensor get_slice(const std::string& name, int64_t dim, int64_t start, int64_t length) const;

  const std::vector<std::string>& files() const { return files_; }
  uint64_t total_file_bytes() const;
  void prefault() const;  // reads every shard's pages now (MappedFile::prefault)
  bool sharded() const { return shards_.size() > 1 || sharded_; }

 private:
  std::string dir_;
  bool sharded_ = false;
  std::vector<std::string> files_;
  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> shard index
};

}  // namespace xai
