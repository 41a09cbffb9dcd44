#include "framework/model/model_spec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "framework/common/error.h"
#include "framework/model/config_reader.h"
#include "framework/model/family.h"

namespace xai {
namespace {

using nlohmann::json;

// Bounds on the architecture's sizes, each far above any released model (vocabularies reach
// 2^18, widths 2^16, contexts 2^23, depths 2^7), and together low enough that nothing computed
// from them overflows int64: a tensor has at most 2^44 elements, the whole table (12 per layer)
// under 2^60, and its size in bytes (num_parameters() * 8) under 2^63.
constexpr int64_t kMaxCount = int64_t{1} << 24;  // vocab_size, max positions
constexpr int64_t kMaxWidth = int64_t{1} << 20;  // hidden, intermediate, heads, head_dim
constexpr int64_t kMaxLayers = int64_t{1} << 12;

// A value for an error message: scalars and flat lists as written, shortened, and nested
// containers only named. nlohmann's dump() recurses once per nesting level, so a malformed file
// of tens of thousands of nested brackets would overflow the stack while building the message.
}  // namespace

std::string describe_config_value(const json& v) {
  if (v.is_structured()) {
    for (const json& e : v) {
      if (e.is_structured())
        return v.is_array() ? str_cat("a nested list of ", v.size(), " items")
                            : str_cat("a nested object of ", v.size(), " keys");
    }
  }
  std::string s = v.dump();
  constexpr size_t kMaxShown = 80;
  if (s.size() > kMaxShown) {
    size_t cut = kMaxShown;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8
    s = s.substr(0, cut) + "...";
  }
  return s;
}

namespace {

void require_positive(const std::string& source, const char* what, int64_t v) {
  if (v <= 0) throw Error(str_cat(source, ": '", what, "' must be positive (got ", v, ")"));
}

// A size of the architecture: positive and at most `max`, so arithmetic on sizes cannot overflow.
void require_size(const std::string& source, const char* what, int64_t v, int64_t max) {
  require_positive(source, what, v);
  if (v > max) {
    throw Error(str_cat(source, ": '", what, "' is ", v, ", more than any model has (at most ", max,
                        "); the file is damaged or not a Hugging Face config.json"));
  }
}

// The sizes GPT-2's config vocabulary names (n_embd, n_layer, ...), which GPT-J's shares.
// `positions`: n_positions when the config leaves it out; nullopt: it is required.
void read_gpt2_style_sizes(const ConfigReader& c, ModelSpec& s, std::optional<int64_t> positions) {
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("n_embd");
  require_size(c.source(), "hidden size", s.hidden_size, kMaxWidth);  // before 4 * n_embd below
  s.num_layers = c.integer("n_layer");
  s.num_heads = c.integer("n_head");
  s.num_kv_heads = s.num_heads;
  s.max_positions = positions ? c.integer_or("n_positions", *positions) : c.integer("n_positions");
  s.intermediate_size = c.integer_or("n_inner", 4 * s.hidden_size);
  s.norm_eps = c.number_or("layer_norm_epsilon", 1e-5);
  s.activation = c.string_or("activation_function", "gelu_new");
}

}  // namespace

void read_gpt2_config(const ConfigReader& c, ModelSpec& s) {
  read_gpt2_style_sizes(c, s, std::nullopt);
  s.tie_word_embeddings = c.boolean_or("tie_word_embeddings", true);
  s.scale_attn_weights = c.boolean_or("scale_attn_weights", true);
  s.scale_attn_by_inverse_layer_idx = c.boolean_or("scale_attn_by_inverse_layer_idx", false);
}

namespace {

void read_rope_scaling(const ConfigReader& c, ModelSpec& s) {
  const json& j = c.json();
  if (c.has("rope_scaling")) {
    const json& r = j["rope_scaling"];
    if (!r.is_object()) c.bad("rope_scaling", "an object or null");
    ConfigReader rc(r, c.source() + " rope_scaling");
    // Through the reader, not json::value(), which throws nlohmann's type_error for a non-string.
    const std::string type = rc.string_or("rope_type", rc.string_or("type", "default"));
    s.rope_scaling.type = type;
    if (type == "linear") {
      s.rope_scaling.factor = rc.number_or("factor", 1.0);
    } else if (type == "llama3") {
      s.rope_scaling.factor = rc.number_or("factor", 8.0);
      s.rope_scaling.low_freq_factor = rc.number_or("low_freq_factor", 1.0);
      s.rope_scaling.high_freq_factor = rc.number_or("high_freq_factor", 4.0);
      s.rope_scaling.original_max_position_embeddings =
          rc.integer_or("original_max_position_embeddings", 8192);
      if (s.rope_scaling.high_freq_factor <= s.rope_scaling.low_freq_factor) {
        throw Error(c.source() + ": rope_scaling.high_freq_factor must exceed low_freq_factor");
      }
    } else if (type != "default") {
      throw Error(str_cat(c.source(), ": rope_scaling type '", type,
                          "' is not supported (supported: default, linear, llama3)"));
    }
    if (s.rope_scaling.factor <= 0) throw Error(c.source() + ": rope_scaling.factor must be > 0");
  }
}

}  // namespace

void read_llama_config(const ConfigReader& c, ModelSpec& s) {
  s.norm_bias = false;  // RMSNorm
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = c.integer_or("num_key_value_heads", s.num_heads);
  s.intermediate_size = c.integer("intermediate_size");
  s.max_positions = c.integer_or("max_position_embeddings", 2048);
  s.norm_eps = c.number_or("rms_norm_eps", 1e-6);
  s.activation = c.string_or("hidden_act", "silu");
  s.rope_theta = c.number_or("rope_theta", 10000.0);
  s.tie_word_embeddings = c.boolean_or("tie_word_embeddings", false);
  if (c.has("head_dim")) s.head_dim = c.integer("head_dim");

  if (s.model_type == "qwen2") {
    s.qkv_bias = true;
    if (c.boolean_or("use_sliding_window", false)) {
      throw Error(str_cat(c.source(),
                          ": use_sliding_window=true is not supported for qwen2 "
                          "(its per-layer window rule is not implemented)"));
    }
  } else {
    const bool bias = c.boolean_or("attention_bias", false);
    s.qkv_bias = bias;
    s.o_bias = bias;
    s.mlp_bias = c.boolean_or("mlp_bias", false);
  }
  if (s.model_type == "mistral" && c.has("sliding_window")) {
    s.sliding_window = c.integer("sliding_window");
    require_positive(c.source(), "sliding_window", *s.sliding_window);
  }

  read_rope_scaling(c, s);
}

void read_gpt_neox_config(const ConfigReader& c, ModelSpec& s) {
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = s.num_heads;
  s.intermediate_size = c.integer_or("intermediate_size", 4 * s.hidden_size);
  s.max_positions = c.integer_or("max_position_embeddings", 2048);
  s.norm_eps = c.number_or("layer_norm_eps", 1e-5);
  s.activation = c.string_or("hidden_act", "gelu");
  s.rope_theta = c.number_or("rotary_emb_base", 10000.0);
  const double pct = c.number_or("rotary_pct", 0.25);
  if (!(pct > 0 && pct <= 1)) {
    throw Error(str_cat(c.source(), ": rotary_pct must be in (0, 1] (got ", pct, ")"));
  }
  s.parallel_residual = c.boolean_or("use_parallel_residual", true);
  s.tie_word_embeddings = c.boolean_or("tie_word_embeddings", false);
  const bool bias = c.boolean_or("attention_bias", true);
  s.qkv_bias = bias;
  s.o_bias = bias;
  s.mlp_bias = true;
  read_rope_scaling(c, s);
  if (s.hidden_size > 0 && s.num_heads > 0 && s.hidden_size % s.num_heads == 0) {
    // As transformers computes it: int(head_size * rotary_pct).
    s.rotary_dims = static_cast<int64_t>(static_cast<double>(s.hidden_size / s.num_heads) * pct);
    if (s.rotary_dims % 2 != 0 || s.rotary_dims == 0) {
      throw Error(str_cat(c.source(), ": rotary_pct ", pct, " gives ", s.rotary_dims,
                          " rotary dimensions of each head; they must be even and at least 2"));
    }
  }
}

void read_gptj_config(const ConfigReader& c, ModelSpec& s) {
  read_gpt2_style_sizes(c, s, 2048);
  s.tie_word_embeddings = c.boolean_or("tie_word_embeddings", false);
  s.rope_theta = 10000.0;  // fixed in GPT-J's create_sinusoidal_positions
  s.rotary_interleaved = true;
  s.parallel_residual = true;
  s.lm_head_bias = true;
  s.mlp_bias = true;
  if (s.hidden_size > 0 && s.num_heads > 0 && s.hidden_size % s.num_heads == 0) {
    const int64_t head = s.hidden_size / s.num_heads;
    s.rotary_dims = c.integer_or("rotary_dim", head);  // null or absent: the whole head
    if (s.rotary_dims <= 0 || s.rotary_dims > head || s.rotary_dims % 2 != 0) {
      throw Error(str_cat(c.source(), ": rotary_dim ", s.rotary_dims,
                          " must be even and between 2 and the head size ", head));
    }
  }
}

ModelSpec parse_model_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(str_cat(source, ": malformed JSON: ", e.what()));
  }
  if (!j.is_object()) throw Error(str_cat(source, ": config.json is not a JSON object"));
  ConfigReader c(j, source);
  ModelSpec s;
  s.source = source;
  s.model_type = c.string_or("model_type", "");
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    s.architecture = j["architectures"][0].get<std::string>();
  }
  const FamilyRow* row = family_for_model_type(s.model_type);
  if (row == nullptr) {
    throw Error(str_cat(source,
                        s.model_type.empty() ? std::string(": missing 'model_type'")
                                             : ": model_type '" + s.model_type + "' is not supported",
                        " (supported: ", supported_model_types(), ")"));
  }
  s.family = row->family;
  row->read_config(c, s);
  if (!row->images) require_size(source, "vocab_size", s.vocab_size, kMaxCount);
  require_size(source, "hidden size", s.hidden_size, kMaxWidth);
  require_size(source, "number of layers", s.num_layers, kMaxLayers);
  require_size(source, "number of attention heads", s.num_heads, kMaxWidth);
  require_size(source, "number of key/value heads", s.num_kv_heads, kMaxWidth);
  require_size(source, "intermediate size", s.intermediate_size, kMaxWidth);
  require_size(source, "max positions", s.max_positions, kMaxCount);
  if (s.head_dim == 0) {
    if (s.hidden_size % s.num_heads != 0) {
      throw Error(str_cat(source, ": hidden size ", s.hidden_size,
                          " is not divisible by the number of heads ", s.num_heads));
    }
    s.head_dim = s.hidden_size / s.num_heads;
  }
  require_size(source, "head_dim", s.head_dim, kMaxWidth);
  // The attention width: the rows of q_proj (both factors are at most 2^20, so no overflow).
  require_size(source, "num_attention_heads * head_dim", s.num_heads * s.head_dim, kMaxWidth);
  if (s.head_dim % 2 != 0 && !row->learned_positions && s.rotary_dims == 0) {
    throw Error(str_cat(source, ": head_dim ", s.head_dim, " must be even for rotary embeddings"));
  }
  if (s.num_heads % s.num_kv_heads != 0) {
    throw Error(str_cat(source, ": num_attention_heads ", s.num_heads,
                        " is not a multiple of num_key_value_heads ", s.num_kv_heads));
  }
  s.bos_token_id = c.optional_integer("bos_token_id");
  s.eos_token_id = c.optional_integer("eos_token_id");
  s.pad_token_id = c.optional_integer("pad_token_id");
  s.torch_dtype = c.string_or("torch_dtype", "");
  return s;
}

ModelSpec read_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good())
    throw Error(str_cat(path, ": cannot open (a checkpoint folder needs config.json)"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_model_config(ss.str(), path);
}

}  // namespace xai

namespace xai {

namespace {

// read_gpt2_style_sizes' keys.
void write_gpt2_style_sizes(const ModelSpec& s, nlohmann::ordered_json& j) {
  j["vocab_size"] = s.vocab_size;
  j["n_positions"] = s.max_positions;
  j["n_embd"] = s.hidden_size;
  j["n_layer"] = s.num_layers;
  j["n_head"] = s.num_heads;
  j["n_inner"] = s.intermediate_size;
  j["activation_function"] = s.activation;
  j["layer_norm_epsilon"] = s.norm_eps;
}

}  // namespace

void write_gpt2_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  j["architectures"] = {"GPT2LMHeadModel"};
  j["model_type"] = "gpt2";
  write_gpt2_style_sizes(s, j);
  j["scale_attn_weights"] = s.scale_attn_weights;
  j["scale_attn_by_inverse_layer_idx"] = s.scale_attn_by_inverse_layer_idx;
  j["tie_word_embeddings"] = s.tie_word_embeddings;
}

void write_gptj_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  j["architectures"] = {"GPTJForCausalLM"};
  j["model_type"] = "gptj";
  write_gpt2_style_sizes(s, j);
  j["rotary_dim"] = s.rotary_dims;
  j["tie_word_embeddings"] = s.tie_word_embeddings;
}

void write_gpt_neox_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  j["architectures"] = {"GPTNeoXForCausalLM"};
  j["model_type"] = "gpt_neox";
  j["vocab_size"] = s.vocab_size;
  j["hidden_size"] = s.hidden_size;
  j["intermediate_size"] = s.intermediate_size;
  j["num_hidden_layers"] = s.num_layers;
  j["num_attention_heads"] = s.num_heads;
  j["max_position_embeddings"] = s.max_positions;
  j["layer_norm_eps"] = s.norm_eps;
  j["hidden_act"] = s.activation;
  j["rotary_emb_base"] = s.rope_theta;
  j["rotary_pct"] = static_cast<double>(s.rotary_dims) / static_cast<double>(s.head_dim);
  j["use_parallel_residual"] = s.parallel_residual;
  j["attention_bias"] = s.qkv_bias;
  j["tie_word_embeddings"] = s.tie_word_embeddings;
}

void write_llama_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  const char* arch = s.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                     : s.model_type == "mistral" ? "MistralForCausalLM"
                                                 : "LlamaForCausalLM";
  j["architectures"] = {arch};
  j["model_type"] = s.model_type.empty() ? "llama" : s.model_type;
  j["vocab_size"] = s.vocab_size;
  j["hidden_size"] = s.hidden_size;
  j["intermediate_size"] = s.intermediate_size;
  j["num_hidden_layers"] = s.num_layers;
  j["num_attention_heads"] = s.num_heads;
  j["num_key_value_heads"] = s.num_kv_heads;
  j["head_dim"] = s.head_dim;
  j["max_position_embeddings"] = s.max_positions;
  j["rms_norm_eps"] = s.norm_eps;
  j["hidden_act"] = s.activation;
  j["rope_theta"] = s.rope_theta;
  if (s.rope_scaling.type != "default") {
    nlohmann::ordered_json r;
    r["rope_type"] = s.rope_scaling.type;
    r["factor"] = s.rope_scaling.factor;
    if (s.rope_scaling.type == "llama3") {
      r["low_freq_factor"] = s.rope_scaling.low_freq_factor;
      r["high_freq_factor"] = s.rope_scaling.high_freq_factor;
      r["original_max_position_embeddings"] = s.rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = r;
  }
  if (s.model_type != "qwen2") {
    j["attention_bias"] = s.qkv_bias;
    j["mlp_bias"] = s.mlp_bias;
  }
  if (s.sliding_window) j["sliding_window"] = *s.sliding_window;
  j["tie_word_embeddings"] = s.tie_word_embeddings;
}

bool synthetic_gpt2_defaults(ModelSpec& s, bool) {
  s.model_type = "gpt2";
  s.activation = "gelu_new";
  return true;  // tied, as GPT-2 is
}

bool synthetic_llama_defaults(ModelSpec& s, bool intermediate_given) {
  s.model_type = "llama";
  s.activation = "silu";
  s.norm_bias = false;
  if (!intermediate_given) s.intermediate_size = (8 * s.hidden_size / 3 + 255) / 256 * 256;
  return false;
}

bool synthetic_gpt_neox_defaults(ModelSpec& s, bool) {
  s.model_type = "gpt_neox";
  s.activation = "gelu";
  s.rotary_dims = std::max<int64_t>(2, s.head_dim / 4 / 2 * 2);  // rotary_pct 0.25 (Pythia)
  s.parallel_residual = true;
  s.qkv_bias = true;
  return false;
}

bool synthetic_gptj_defaults(ModelSpec& s, bool) {
  s.model_type = "gptj";
  s.activation = "gelu_new";
  s.rotary_dims = std::min<int64_t>(64, s.head_dim / 2 * 2);  // GPT-J-6B: 64 of 256
  s.rotary_interleaved = true;
  s.parallel_residual = true;
  s.lm_head_bias = true;
  return false;
}

std::string model_config_json(const ModelSpec& s) {
  nlohmann::ordered_json j;
  family_row(s.family).write_config(s, j);
  if (s.bos_token_id) j["bos_token_id"] = *s.bos_token_id;
  if (s.eos_token_id) j["eos_token_id"] = *s.eos_token_id;
  if (s.pad_token_id) j["pad_token_id"] = *s.pad_token_id;
  j["torch_dtype"] = "float32";
  return j.dump(2);
}

}  // namespace xai
