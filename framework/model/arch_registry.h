// The architecture registry: per family, every Hugging Face tensor name with its expected shape
// and whether it is required, optional or tied. A checkpoint is checked against it before any
// compute, so a wrong or incomplete checkpoint fails with the full list of problems.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/model/model_spec.h"

namespace xai {

class Checkpoint;

enum class TensorRole { kRequired, kOptional, kTied };

// The sizes shapes are written in, read off the spec.
enum class Dim : uint8_t {
  kNone,       // (a vector has one dimension)
  kHidden,     // D
  kInter,      // F, the MLP width
  kVocab,      // V
  kPositions,  // learned positions
  kQ,          // num_heads * head_dim
  kKV,         // num_kv_heads * head_dim
  k3Hidden,    // 3 D: fused query | key | value sections, each (H, Dh) (GPT-2's c_attn)
  kQKVHeads,   // 3 H Dh: fused per head, (H, 3, Dh) (GPT-NeoX's query_key_value)
  kTypes,      // token types (BERT)
  kLabels,     // a classifier's classes
};
int64_t dim_size(Dim d, const ModelSpec& s);  // arch_registry.cpp


struct TensorEntry {
  std::string name;  // canonical name, as *ForCausalLM.save_pretrained writes it
  std::vector<int64_t> shape;
  TensorRole role = TensorRole::kRequired;
  std::string tied_to;  // kTied: the canonical name it shares storage with when absent
  Dim rows = Dim::kNone, cols = Dim::kNone;  // what the shape is made of (tensor parallelism)
};

// The layer a canonical tensor name belongs to ("transformer.h.3.attn...", "model.layers.3.mlp..."),
// or -1 for the embeddings, the final norm and the head.
int tensor_layer(const std::string& canonical);

// The full table for a spec, in model order.
std::vector<TensorEntry> tensor_table(const ModelSpec& spec);

// Canonical name -> name in the checkpoint, after the whole table was checked.
struct CheckpointBinding {
  std::map<std::string, std::string> names;  // only for tensors present in the checkpoint
  std::vector<std::string> unknown;          // checkpoint tensors the family does not use
  bool has(const std::string& canonical) const { return names.count(canonical) != 0; }
};

// Checks every name, shape and dtype (floating point) of the table against the checkpoint.
// Accepts both the *ForCausalLM layout ("transformer."/"model." prefixes) and the bare base-model
// layout. Throws one xai::Error listing every problem; unknown tensors are returned, not fatal.
CheckpointBinding bind_checkpoint(const Checkpoint& ck, const ModelSpec& spec);

}  // namespace xai
