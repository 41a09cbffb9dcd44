#include "framework/model/arch_registry.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "framework/common/error.h"
#include "framework/tensor_io/checkpoint.h"

namespace xai {
namespace {

std::string layer_name(const char* prefix, int64_t i, const char* rest) {
  return str_cat(prefix, i, ".", rest);
}

// The LM head: its own (V, D) matrix, or, with tied embeddings, the embedding matrix when the
// checkpoint leaves the head out.
void add_head(std::vector<TensorEntry>& t, const ModelSpec& s, const char* head,
              const char* embedding) {
  const std::vector<int64_t> shape = {s.vocab_size, s.hidden_size};
  if (s.tie_word_embeddings) {
    t.push_back({head, shape, TensorRole::kTied, embedding});
  } else {
    t.push_back({head, shape});
  }
}

std::vector<TensorEntry> gpt2_table(const ModelSpec& s) {
  const int64_t D = s.hidden_size, V = s.vocab_size, F = s.intermediate_size;
  std::vector<TensorEntry> t = {
      {"transformer.wte.weight", {V, D}},
      {"transformer.wpe.weight", {s.max_positions, D}},
  };
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const char* p = "transformer.h.";
    // Conv1D weights are stored [in, out].
    t.push_back({layer_name(p, i, "ln_1.weight"), {D}});
    t.push_back({layer_name(p, i, "ln_1.bias"), {D}});
    t.push_back({layer_name(p, i, "attn.c_attn.weight"), {D, 3 * D}});
    t.push_back({layer_name(p, i, "attn.c_attn.bias"), {3 * D}});
    t.push_back({layer_name(p, i, "attn.c_proj.weight"), {D, D}});
    t.push_back({layer_name(p, i, "attn.c_proj.bias"), {D}});
    t.push_back({layer_name(p, i, "ln_2.weight"), {D}});
    t.push_back({layer_name(p, i, "ln_2.bias"), {D}});
    t.push_back({layer_name(p, i, "mlp.c_fc.weight"), {D, F}});
    t.push_back({layer_name(p, i, "mlp.c_fc.bias"), {F}});
    t.push_back({layer_name(p, i, "mlp.c_proj.weight"), {F, D}});
    t.push_back({layer_name(p, i, "mlp.c_proj.bias"), {D}});
  }
  t.push_back({"transformer.ln_f.weight", {D}});
  t.push_back({"transformer.ln_f.bias", {D}});
  add_head(t, s, "lm_head.weight", "transformer.wte.weight");
  return t;
}

std::vector<TensorEntry> llama_table(const ModelSpec& s) {
  const int64_t D = s.hidden_size, V = s.vocab_size, F = s.intermediate_size;
  const int64_t Hq = s.num_heads * s.head_dim, Hkv = s.num_kv_heads * s.head_dim;
  std::vector<TensorEntry> t = {{"model.embed_tokens.weight", {V, D}}};
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const char* p = "model.layers.";
    t.push_back({layer_name(p, i, "input_layernorm.weight"), {D}});
    t.push_back({layer_name(p, i, "self_attn.q_proj.weight"), {Hq, D}});
    t.push_back({layer_name(p, i, "self_attn.k_proj.weight"), {Hkv, D}});
    t.push_back({layer_name(p, i, "self_attn.v_proj.weight"), {Hkv, D}});
    if (s.qkv_bias) {
      t.push_back({layer_name(p, i, "self_attn.q_proj.bias"), {Hq}});
      t.push_back({layer_name(p, i, "self_attn.k_proj.bias"), {Hkv}});
      t.push_back({layer_name(p, i, "self_attn.v_proj.bias"), {Hkv}});
    }
    t.push_back({layer_name(p, i, "self_attn.o_proj.weight"), {D, Hq}});
    if (s.o_bias) t.push_back({layer_name(p, i, "self_attn.o_proj.bias"), {D}});
    t.push_back({layer_name(p, i, "post_attention_layernorm.weight"), {D}});
    t.push_back({layer_name(p, i, "mlp.gate_proj.weight"), {F, D}});
    t.push_back({layer_name(p, i, "mlp.up_proj.weight"), {F, D}});
    t.push_back({layer_name(p, i, "mlp.down_proj.weight"), {D, F}});
    if (s.mlp_bias) {
      t.push_back({layer_name(p, i, "mlp.gate_proj.bias"), {F}});
      t.push_back({layer_name(p, i, "mlp.up_proj.bias"), {F}});
      t.push_back({layer_name(p, i, "mlp.down_proj.bias"), {D}});
    }
  }
  t.push_back({"model.norm.weight", {D}});
  add_head(t, s, "lm_head.weight", "model.embed_tokens.weight");
  return t;
}

std::vector<TensorEntry> gpt_neox_table(const ModelSpec& s) {
  const int64_t D = s.hidden_size, V = s.vocab_size, F = s.intermediate_size;
  std::vector<TensorEntry> t = {{"gpt_neox.embed_in.weight", {V, D}}};
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const char* p = "gpt_neox.layers.";
    t.push_back({layer_name(p, i, "input_layernorm.weight"), {D}});
    t.push_back({layer_name(p, i, "input_layernorm.bias"), {D}});
    t.push_back({layer_name(p, i, "attention.query_key_value.weight"), {3 * D, D}});
    if (s.qkv_bias) t.push_back({layer_name(p, i, "attention.query_key_value.bias"), {3 * D}});
    t.push_back({layer_name(p, i, "attention.dense.weight"), {D, D}});
    if (s.o_bias) t.push_back({layer_name(p, i, "attention.dense.bias"), {D}});
    t.push_back({layer_name(p, i, "post_attention_layernorm.weight"), {D}});
    t.push_back({layer_name(p, i, "post_attention_layernorm.bias"), {D}});
    t.push_back({layer_name(p, i, "mlp.dense_h_to_4h.weight"), {F, D}});
    t.push_back({layer_name(p, i, "mlp.dense_h_to_4h.bias"), {F}});
    t.push_back({layer_name(p, i, "mlp.dense_4h_to_h.weight"), {D, F}});
    t.push_back({layer_name(p, i, "mlp.dense_4h_to_h.bias"), {D}});
  }
  t.push_back({"gpt_neox.final_layer_norm.weight", {D}});
  t.push_back({"gpt_neox.final_layer_norm.bias", {D}});
  add_head(t, s, "embed_out.weight", "gpt_neox.embed_in.weight");
  return t;
}

std::vector<TensorEntry> gptj_table(const ModelSpec& s) {
  const int64_t D = s.hidden_size, V = s.vocab_size, F = s.intermediate_size;
  std::vector<TensorEntry> t = {{"transformer.wte.weight", {V, D}}};
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const char* p = "transformer.h.";
    t.push_back({layer_name(p, i, "ln_1.weight"), {D}});
    t.push_back({layer_name(p, i, "ln_1.bias"), {D}});
    for (const char* proj : {"attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
                             "attn.out_proj.weight"}) {
      t.push_back({layer_name(p, i, proj), {D, D}});
    }
    t.push_back({layer_name(p, i, "mlp.fc_in.weight"), {F, D}});
    t.push_back({layer_name(p, i, "mlp.fc_in.bias"), {F}});
    t.push_back({layer_name(p, i, "mlp.fc_out.weight"), {D, F}});
    t.push_back({layer_name(p, i, "mlp.fc_out.bias"), {D}});
  }
  t.push_back({"transformer.ln_f.weight", {D}});
  t.push_back({"transformer.ln_f.bias", {D}});
  add_head(t, s, "lm_head.weight", "transformer.wte.weight");
  t.push_back({"lm_head.bias", {V}});
  return t;
}

// Buffers some checkpoints carry that no computation reads.
bool is_ignored_buffer(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias") ||
         ends_with(".attention.bias") || ends_with(".attention.masked_bias") ||
         ends_with("rotary_emb.inv_freq");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int tensor_layer(const std::string& name) {
  for (const char* key : {".h.", ".layers."}) {
    const size_t at = name.find(key);
    if (at == std::string::npos) continue;
    size_t i = at + std::strlen(key), j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j > i && j < name.size() && name[j] == '.') return std::stoi(name.substr(i, j - i));
  }
  return -1;
}

std::vector<TensorEntry> tensor_table(const ModelSpec& spec) {
  switch (spec.family) {
    case Family::kGpt2:
      return gpt2_table(spec);
    case Family::kLlama:
      return llama_table(spec);
    case Family::kGptNeox:
      return gpt_neox_table(spec);
    case Family::kGptj:
      return gptj_table(spec);
  }
  throw Error("internal: unknown family");
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
  const std::string prefix = spec.family == Family::kGpt2 || spec.family == Family::kGptj
                                 ? "transformer."
                             : spec.family == Family::kGptNeox ? "gpt_neox."
                                                               : "model.";
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
