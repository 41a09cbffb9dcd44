// The encoders' config.json (BERT and RoBERTa share its vocabulary; ViT adds the image geometry):
// sizes, token types, the position offset, and a classifier's labels. LibTorch-free, like
// model_spec.cpp.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "framework/common/error.h"
#include "framework/model/config_reader.h"

namespace xai {
namespace {

constexpr int64_t kMaxLabels = int64_t{1} << 24;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// id2label {"0": "negative", "1": "positive"}: every id from 0 to n - 1 once, names as given.
std::vector<std::string> read_labels(const ConfigReader& c) {
  const nlohmann::json& j = c.json();
  if (!c.has("id2label")) {
    const int64_t n = c.integer_or("num_labels", 2);  // transformers' default
    if (n <= 0 || n > kMaxLabels) c.bad("num_labels", "a positive number of classes");
    std::vector<std::string> names;
    for (int64_t i = 0; i < n; ++i) names.push_back(str_cat("LABEL_", i));
    return names;
  }
  const nlohmann::json& m = j["id2label"];
  if (!m.is_object() || m.empty() || static_cast<int64_t>(m.size()) > kMaxLabels) {
    c.bad("id2label", "an object of class ids to names");
  }
  std::vector<std::string> names(m.size());
  std::vector<bool> seen(m.size(), false);
  for (auto it = m.begin(); it != m.end(); ++it) {
    const std::string& key = it.key();
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || id < 0 || id >= static_cast<long long>(names.size()) ||
        seen[static_cast<size_t>(id)]) {
      throw Error(str_cat(c.source(), ": id2label key '", key,
                          "' is not one of the class ids 0 to ", names.size() - 1, " (each once)"));
    }
    if (!it.value().is_string()) {
      throw Error(str_cat(c.source(), ": id2label '", key, "' must name its class with a string"));
    }
    names[static_cast<size_t>(id)] = it.value().get<std::string>();
    seen[static_cast<size_t>(id)] = true;
  }
  return names;
}

void write_labels(const ModelSpec& s, nlohmann::ordered_json& j) {
  if (!s.classifier()) return;
  nlohmann::ordered_json id2label = nlohmann::ordered_json::object(),
                         label2id = nlohmann::ordered_json::object();
  for (size_t i = 0; i < s.labels.size(); ++i) {
    id2label[std::to_string(i)] = s.labels[i];
    label2id[s.labels[i]] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
}

}  // namespace

void read_bert_config(const ConfigReader& c, ModelSpec& s) {
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = s.num_heads;
  s.intermediate_size = c.integer("intermediate_size");
  s.max_positions = c.integer_or("max_position_embeddings", 512);
  s.norm_eps = c.number_or("layer_norm_eps", 1e-12);
  s.activation = c.string_or("hidden_act", "gelu");
  s.type_vocab_size = c.integer_or("type_vocab_size", 2);
  if (s.type_vocab_size <= 0 || s.type_vocab_size > kMaxLabels) {
    c.bad("type_vocab_size", "a positive number of token types");
  }
  const std::string positions = c.string_or("position_embedding_type", "absolute");
  if (positions != "absolute") {
    throw Error(str_cat(c.source(), ": position_embedding_type '", positions,
                        "' is not supported (supported: absolute)"));
  }
  if (s.model_type == "roberta") {
    // RoBERTa numbers real tokens from padding_idx + 1 (create_position_ids_from_input_ids).
    const int64_t pad = c.integer_or("pad_token_id", 1);
    if (pad < 0 || pad >= kMaxLabels) c.bad("pad_token_id", "a token id");
    s.position_offset = pad + 1;
  }
  s.tie_word_embeddings = false;  // no LM head
  if (ends_with(s.architecture, "ForSequenceClassification")) {
    s.labels = read_labels(c);
    const std::string problem = c.string_or("problem_type", "single_label_classification");
    if (problem != "single_label_classification") {
      throw Error(str_cat(c.source(), ": problem_type '", problem,
                          "' is not supported (supported: single_label_classification)"));
    }
  }
}

void write_bert_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  const bool roberta = s.family == Family::kRoberta;
  const std::string name = roberta ? "Roberta" : "Bert";
  j["architectures"] = {name + (s.classifier() ? "ForSequenceClassification" : "Model")};
  j["model_type"] = roberta ? "roberta" : "bert";
  j["vocab_size"] = s.vocab_size;
  j["hidden_size"] = s.hidden_size;
  j["num_hidden_layers"] = s.num_layers;
  j["num_attention_heads"] = s.num_heads;
  j["intermediate_size"] = s.intermediate_size;
  j["hidden_act"] = s.activation;
  j["max_position_embeddings"] = s.max_positions;
  j["type_vocab_size"] = s.type_vocab_size;
  j["layer_norm_eps"] = s.norm_eps;
  j["position_embedding_type"] = "absolute";
  j["hidden_dropout_prob"] = 0.0;
  j["attention_probs_dropout_prob"] = 0.0;
  write_labels(s, j);
}

void read_vit_config(const ConfigReader& c, ModelSpec& s) {
  s.vocab_size = 0;  // pixels, no token vocabulary
  s.hidden_size = c.integer("hidden_size");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = s.num_heads;
  s.intermediate_size = c.integer("intermediate_size");
  s.norm_eps = c.number_or("layer_norm_eps", 1e-12);
  s.activation = c.string_or("hidden_act", "gelu");
  s.image_size = c.integer_or("image_size", 224);
  s.patch_size = c.integer_or("patch_size", 16);
  s.num_channels = c.integer_or("num_channels", 3);
  if (s.image_size <= 0 || s.image_size > 65536) c.bad("image_size", "a positive size in pixels");
  if (s.patch_size <= 0 || s.image_size % s.patch_size != 0) {
    throw Error(str_cat(c.source(), ": patch_size ", s.patch_size,
                        " must be positive and divide image_size ", s.image_size));
  }
  if (s.num_channels <= 0 || s.num_channels > 64) c.bad("num_channels", "1 to 64 channels");
  s.qkv_bias = c.boolean_or("qkv_bias", true);
  s.max_positions = s.num_patches() + 1;  // [CLS] and one position per patch
  if (ends_with(s.architecture, "ForImageClassification")) s.labels = read_labels(c);
}

void write_vit_config(const ModelSpec& s, nlohmann::ordered_json& j) {
  j["architectures"] = {s.classifier() ? "ViTForImageClassification" : "ViTModel"};
  j["model_type"] = "vit";
  j["hidden_size"] = s.hidden_size;
  j["num_hidden_layers"] = s.num_layers;
  j["num_attention_heads"] = s.num_heads;
  j["intermediate_size"] = s.intermediate_size;
  j["hidden_act"] = s.activation;
  j["layer_norm_eps"] = s.norm_eps;
  j["image_size"] = s.image_size;
  j["patch_size"] = s.patch_size;
  j["num_channels"] = s.num_channels;
  j["qkv_bias"] = s.qkv_bias;
  j["hidden_dropout_prob"] = 0.0;
  j["attention_probs_dropout_prob"] = 0.0;
  write_labels(s, j);
}

namespace {
bool synthetic_encoder(ModelSpec& s) {
  s.activation = "gelu";
  s.labels = {"LABEL_0", "LABEL_1"};
  return false;  // no LM head to tie
}
}  // namespace

bool synthetic_bert_defaults(ModelSpec& s, bool) {
  s.model_type = "bert";
  s.type_vocab_size = 2;
  return synthetic_encoder(s);
}

bool synthetic_roberta_defaults(ModelSpec& s, bool) {
  s.model_type = "roberta";
  s.type_vocab_size = 1;
  return synthetic_encoder(s);
}

bool synthetic_vit_defaults(ModelSpec& s, bool) {
  s.model_type = "vit";
  s.qkv_bias = true;
  s.num_channels = 3;
  s.patch_size = 16;
  s.image_size = 224;
  return synthetic_encoder(s);
}

}  // namespace xai
