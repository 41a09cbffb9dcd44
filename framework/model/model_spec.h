// ModelSpec: the typed view of a Hugging Face config.json that every architecture is built from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xai {

// kLlama also covers Mistral and Qwen2; kBert and kRoberta are encoders (bidirectional attention).
// kVit reads images.
enum class Family { kGpt2, kLlama, kGptNeox, kGptj, kBert, kRoberta, kVit };
const char* family_name(Family f);

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelSpec {
  Family family = Family::kGpt2;
  std::string model_type;    // config.json model_type, e.g. "qwen2"
  std::string architecture;  // first of config.json architectures, when present
  std::string source;        // the config.json path (for messages)

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // == num_heads unless grouped-query attention
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_positions = 0;
  double norm_eps = 1e-5;
  // Whether the norms add a bias (LayerNorm: GPT-2) or not (RMSNorm: the Llama family). Without
  // one, E = 0 is a singular point of the model (integrated gradients' `baseline: auto` reads it).
  bool norm_bias = true;
  std::string activation;  // gelu_new | gelu | relu | silu | ...

  // Rotary families (Llama, GPT-NeoX).
  double rope_theta = 10000.0;
  // Leading dimensions of each head that are rotated (GPT-NeoX: head_dim * rotary_pct); 0 = all.
  int64_t rotary_dims = 0;
  // Rotation of dimension pairs (2i, 2i+1) (GPT-J's rotate-every-two) instead of (i, i + d/2).
  bool rotary_interleaved = false;
  RopeScaling rope_scaling;
  bool qkv_bias = false;                  // Qwen2 always, Llama when attention_bias
  bool o_bias = false;                    // Llama attention_bias
  bool mlp_bias = false;                  // Llama mlp_bias
  std::optional<int64_t> sliding_window;  // Mistral (and Qwen2 with use_sliding_window)

  // GPT-NeoX: attention and MLP both read the block input and add to it (use_parallel_residual);
  // false: the MLP reads the attention's output, as in GPT-2. GPT-J: always, from one LayerNorm.
  bool parallel_residual = false;
  bool lm_head_bias = false;  // GPT-J

  // GPT-2.
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  // Encoders (BERT, RoBERTa).
  int64_t type_vocab_size = 0;  // token types (BERT's segments A and B); 0 = none
  int64_t position_offset = 0;  // RoBERTa: position ids start at pad_token_id + 1
  // Images (ViT): square images of image_size pixels cut into patch_size patches, one token each
  // after [CLS]; vocab_size is 0 (no token vocabulary).
  int64_t image_size = 0, patch_size = 0, num_channels = 0;
  int64_t num_patches() const {
    return patch_size > 0 ? (image_size / patch_size) * (image_size / patch_size) : 0;
  }
  // A sequence classifier's class names (config.json id2label, in id order): its logits are one
  // per class, read at the [CLS] token. Empty: a language model, or a bare encoder (no head).
  std::vector<std::string> labels;
  bool classifier() const { return !labels.empty(); }
  // The size of the logits' last dimension: the classes of a classifier, else the vocabulary.
  int64_t output_size() const {
    return classifier() ? static_cast<int64_t>(labels.size()) : vocab_size;
  }

  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
  std::string torch_dtype;  // as stored ("float32", "bfloat16", ...), informational

  // Counted from the shapes of the architecture table (defined in arch_registry.cpp with it).
  int64_t num_parameters() const;
};

// Reads and validates config.json. Throws xai::Error naming the file and the bad or missing key,
// or the unsupported model_type / rope_scaling type.
ModelSpec read_model_config(const std::string& config_json_path);
ModelSpec parse_model_config(const std::string& json_text, const std::string& source_name);

// The config.json text for a spec, in Hugging Face's keys for its model_type; parse_model_config
// reads it back to the same spec.
std::string model_config_json(const ModelSpec& spec);

}  // namespace xai
