#include "framework/model/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/model/arch_registry.h"
#include "framework/model/transformer.h"
#include "framework/tensor_io/safetensors.h"
#include "framework/text/bpe_trainer.h"

namespace xai {
namespace {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix64(seed ^ mix64(h));
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

const TensorEntry& entry_of(const std::vector<TensorEntry>& table, const std::string& name) {
  for (const auto& e : table) {
    if (e.name == name) return e;
  }
  throw Error(str_cat("synthetic model: internal: no tensor '", name, "' in the family's table"));
}

at::Tensor draw(const TensorEntry& e, uint64_t seed) {
  if (ends_with(e.name, ".bias")) return at::zeros(e.shape);
  if (e.shape.size() == 1) return at::ones(e.shape);  // every 1-D weight is a norm scale
  auto gen = at::make_generator<at::CPUGeneratorImpl>(name_seed(seed, e.name));
  return at::empty(e.shape).normal_(0.0, 0.02, gen);
}

}  // namespace

ModelSpec shape_spec(const ModelShape& m, const std::string& where) {
  ModelSpec s;
  const std::string& f = m.family;
  auto positive = [&](const char* key, int64_t v) {
    XAI_CHECK(v > 0, where, key, " must be positive (got ", v, ")");
  };
  positive("layers", m.layers);
  positive("hidden", m.hidden);
  positive("heads", m.heads);
  positive("vocab", m.vocab);
  positive("max_positions", m.max_positions);
  XAI_CHECK(m.kv_heads >= 0 && m.head_dim >= 0 && m.intermediate >= 0, where,
            "kv_heads, head_dim and intermediate must be >= 0 (0 = the family's usual value)");
  XAI_CHECK(m.vocab >= 257, where, "vocab must be at least 257 (the byte-level tokenizer's ",
            "256 bytes and <|endoftext|>; got ", m.vocab, ")");
  const FamilyRow* row = family_by_name(f);
  XAI_CHECK(row != nullptr, where, "family must be ", family_names(), " (got '", f, "')");
  XAI_CHECK(row->grouped_query || m.kv_heads == 0 || m.kv_heads == m.heads, where, "kv_heads: ",
            f, " has no grouped-query attention (leave it 0)");
  XAI_CHECK(row->grouped_query || m.head_dim == 0 || m.head_dim * m.heads == m.hidden, where,
            "head_dim: ", f, "'s heads split the hidden width (leave it 0)");
  XAI_CHECK(m.head_dim > 0 || m.hidden % m.heads == 0, where, "hidden ", m.hidden,
            " is not a multiple of heads ", m.heads);
  s.head_dim = m.head_dim > 0 ? m.head_dim : m.hidden / m.heads;
  s.num_kv_heads = m.kv_heads > 0 ? m.kv_heads : m.heads;
  XAI_CHECK(m.heads % s.num_kv_heads == 0, where, "heads ", m.heads,
            " is not a multiple of kv_heads ", s.num_kv_heads);
  s.family = row->family;
  s.hidden_size = m.hidden;
  s.intermediate_size = m.intermediate > 0 ? m.intermediate : 4 * m.hidden;
  s.rope_theta = m.rope_theta;
  bool tie = row->synthetic_defaults(s, m.intermediate > 0);
  if (m.tie_embeddings >= 0) tie = m.tie_embeddings != 0;
  s.vocab_size = m.vocab;
  s.num_layers = m.layers;
  s.num_heads = m.heads;
  s.max_positions = m.max_positions;
  s.norm_eps = 1e-5;
  s.tie_word_embeddings = tie;
  s.bos_token_id = 0;
  s.eos_token_id = 0;
  s.pad_token_id = 0;
  try {
    return parse_model_config(model_config_json(s), "synthetic " + f);
  } catch (const std::exception& e) {
    throw Error(str_cat(where, e.what()));
  }
}

at::Tensor synthetic_tensor(const ModelSpec& spec, const std::string& name, uint64_t seed) {
  return draw(entry_of(tensor_table(spec), name), seed);
}

std::unique_ptr<Model> make_synthetic_model(const ModelSpec& spec, uint64_t seed,
                                            const LoadOptions& options, at::ScalarType dtype) {
  XAI_CHECK(!(options.device.is_cuda() && !at::hasCUDA()), "device '", options.device.str(),
            "': this build of LibTorch has no CUDA");
  XAI_CHECK(!(dtype == at::kHalf && options.device.is_cpu()),
            "synthetic model: float16 weights on the CPU: LibTorch's CPU kernels lack "
            "half-precision matmuls (HINT: bfloat16 or float32 on the CPU)");
  check_activation_supported(spec);
  std::map<std::string, TensorEntry> table;
  for (auto& e : tensor_table(spec)) table[e.name] = e;
  // Converted here so the family's weight() finds each tensor in place (no second copy).
  WeightFn source = [&](const std::string& name) {
    auto it = table.find(name);
    XAI_CHECK(it != table.end(), "synthetic model: internal: no tensor '", name, "'");
    return draw(it->second, seed).to(options.device, dtype);
  };
  return make_family_model(spec, source, options, dtype);
}

const std::string& synthetic_tokenizer_json() {
  static const std::string json = [] {
    BpeTrainerOptions o;
    o.vocab_size = 257;
    return train_byte_level_bpe({}, o);
  }();
  return json;
}

std::vector<std::string> write_synthetic_model(const std::string& dir, const ModelSpec& spec,
                                               uint64_t seed, at::ScalarType dtype,
                                               int64_t shard_bytes) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  auto write_text = [&](const std::string& name, const std::string& text) {
    const std::string path = (fs::path(dir) / name).string();
    std::ofstream out(path + ".tmp");
    out << text << "\n";
    out.close();
    XAI_CHECK(out.good(), path, ": write failed (disk full?)");
    fs::rename(path + ".tmp", path);
    return path;
  };
  // Shards: tensors in table order, a new shard when the next tensor would pass shard_bytes.
  std::vector<std::vector<const TensorEntry*>> shards(1);
  std::vector<TensorEntry> table = tensor_table(spec);
  const int64_t elem = at::elementSize(dtype);
  int64_t in_shard = 0, total = 0;
  for (const auto& e : table) {
    if (e.role == TensorRole::kTied) continue;
    int64_t bytes = elem;
    for (int64_t d : e.shape) bytes *= d;
    if (shard_bytes > 0 && in_shard > 0 && in_shard + bytes > shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&e);
    in_shard += bytes;
    total += bytes;
  }
  std::vector<std::string> files;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  const size_t n = shards.size();
  for (size_t k = 0; k < n; ++k) {
    char name[64];
    if (n == 1) {
      std::snprintf(name, sizeof(name), "model.safetensors");
    } else {
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", k + 1, n);
    }
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const TensorEntry* e : shards[k]) {
      tensors.emplace_back(e->name, draw(*e, seed).to(dtype));
      weight_map[e->name] = name;
    }
    const std::string path = (fs::path(dir) / name).string();
    write_safetensors(path, tensors, {{"format", "pt"}});
    files.push_back(path);
  }
  if (n > 1) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = weight_map;
    files.push_back(write_text("model.safetensors.index.json", index.dump(2)));
  }
  nlohmann::ordered_json cfg = nlohmann::ordered_json::parse(model_config_json(spec));
  cfg["torch_dtype"] = weights_dtype_name(dtype);
  files.push_back(write_text("config.json", cfg.dump(2)));
  files.push_back(write_text("tokenizer.json", synthetic_tokenizer_json()));
  return files;
}

int64_t parse_byte_size(const std::string& text, const std::string& where) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  double scale = 0;
  for (const auto& [u, s] : std::vector<std::pair<std::string, double>>{
           {"", 1},
           {"B", 1},
           {"KB", 1e3},
           {"MB", 1e6},
           {"GB", 1e9},
           {"TB", 1e12},
           {"KiB", 1024.0},
           {"MiB", 1024.0 * 1024},
           {"GiB", 1024.0 * 1024 * 1024},
           {"TiB", 1024.0 * 1024 * 1024 * 1024}}) {
    if (unit == u) scale = s;
  }
  XAI_CHECK(used > 0 && scale > 0 && std::isfinite(v) && v >= 0, where, "'", text,
            "' is not a size (e.g. 2GB, 500MB, 1.5GiB or a number of bytes)");
  return static_cast<int64_t>(std::llround(v * scale));
}

}  // namespace xai
