#include "framework/model/arch_registry.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "framework/common/error.h"
#include "framework/model/family.h"
#include "framework/model/tensor_table.h"
#include "framework/tensor_io/checkpoint.h"

namespace xai {
namespace {

// Buffers some checkpoints carry that no computation reads.
bool is_ignored_buffer(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias") ||
         ends_with(".attention.bias") || ends_with(".attention.masked_bias") ||
         ends_with("rotary_emb.inv_freq") || ends_with("embeddings.position_ids") ||
         ends_with("embeddings.token_type_ids");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int tensor_layer(const std::string& name) {
  for (const char* key : {".h.", ".layers.", ".layer."}) {
    const size_t at = name.find(key);
    if (at == std::string::npos) continue;
    size_t i = at + std::strlen(key), j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j > i && j < name.size() && name[j] == '.') return std::stoi(name.substr(i, j - i));
  }
  return -1;
}

int64_t dim_size(Dim d, const ModelSpec& s) {
  switch (d) {
    case Dim::kNone:
      break;
    case Dim::kHidden:
      return s.hidden_size;
    case Dim::kInter:
      return s.intermediate_size;
    case Dim::kVocab:
      return s.vocab_size;
    case Dim::kPositions:
      return s.max_positions;
    case Dim::kQ:
      return s.num_heads * s.head_dim;
    case Dim::kKV:
      return s.num_kv_heads * s.head_dim;
    case Dim::k3Hidden:
      return 3 * s.hidden_size;
    case Dim::kQKVHeads:
      return 3 * s.num_heads * s.head_dim;
    case Dim::kTypes:
      return s.type_vocab_size;
    case Dim::kLabels:
      return static_cast<int64_t>(s.labels.size());
  }
  throw Error("internal: a tensor dimension without a size");
}

std::vector<TensorEntry> tensor_table(const ModelSpec& spec) {
  return family_row(spec.family).tensors(spec);
}

// Here rather than in model_spec.cpp, beside the table it counts: model_spec.cpp then needs no
// LibTorch (this file does, for Checkpoint), so the config.json fuzzer builds without it.
int64_t ModelSpec::num_parameters() const {
  int64_t n = 0;
  for (const auto& e : tensor_table(*this)) {
    if (e.role == TensorRole::kTied) continue;
    int64_t k = 1;
    for (int64_t d : e.shape) k *= d;
    n += k;
  }
  return n;
}

CheckpointBinding bind_checkpoint(const Checkpoint& ck, const ModelSpec& spec) {
  const auto table = tensor_table(spec);
  // Base-model checkpoints (GPT2Model, LlamaModel) have no "transformer."/"model." prefix.
  const std::string prefix = family_row(spec.family).checkpoint_prefix;
  const bool bare =
      !ck.contains(table.front().name) && ck.contains(table.front().name.substr(prefix.size()));
  auto actual = [&](const std::string& canonical) {
    if (bare && canonical.rfind(prefix, 0) == 0) return canonical.substr(prefix.size());
    return canonical;
  };

  CheckpointBinding b;
  std::vector<std::string> problems;
  std::map<std::string, bool> used;
  for (const auto& e : table) {
    const std::string name = actual(e.name);
    if (!ck.contains(name)) {
      if (e.role == TensorRole::kRequired) problems.push_back("missing tensor '" + name + "'");
      continue;
    }
    used[name] = true;
    const TensorInfo& info = ck.info(name);
    if (info.shape != e.shape) {
      problems.push_back(str_cat("tensor '", name, "' has shape ", shape_str(info.shape),
                                 ", config.json implies ", shape_str(e.shape)));
      continue;
    }
    if (!is_floating(info.dtype)) {
      problems.push_back(str_cat("tensor '", name, "' has dtype ", dtype_name(info.dtype),
                                 "; weights must be F32, F16, BF16 or F64"));
      continue;
    }
    b.names[e.name] = name;
  }
  for (const auto& name : ck.names()) {
    if (!used.count(name) && !is_ignored_buffer(name)) b.unknown.push_back(name);
  }
  if (!problems.empty()) {
    std::string msg = str_cat(ck.dir(), ": checkpoint does not match its config.json (",
                              spec.model_type, ", ", spec.num_layers, " layers): ");
    const size_t shown = std::min<size_t>(problems.size(), 6);
    for (size_t i = 0; i < shown; ++i) msg += (i ? "; " : "") + problems[i];
    if (problems.size() > shown) msg += str_cat("; and ", problems.size() - shown, " more");
    throw Error(msg);
  }
  return b;
}

}  // namespace xai
