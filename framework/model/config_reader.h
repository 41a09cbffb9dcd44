// Typed access to config.json keys with messages that name the file and the key, and the
// families' config readers and writers that use it (model_spec.cpp; their rows: families.cpp).
// LibTorch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "framework/common/error.h"
#include "framework/model/model_spec.h"

namespace xai {

// A value for an error message, shortened (model_spec.cpp).
std::string describe_config_value(const nlohmann::json& v);

// Typed access to config.json keys with messages that name the file and the key.
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  int64_t integer(const char* key) const {
    if (!has(key)) throw Error(str_cat(source_, ": missing required key '", key, "'"));
    return integer_value(key);
  }
  int64_t integer_or(const char* key, int64_t fallback) const {
    return has(key) ? integer_value(key) : fallback;
  }
  std::optional<int64_t> optional_integer(const char* key) const {
    if (!has(key)) return std::nullopt;
    // eos_token_id may be a list (Llama-3): keep the first.
    if (j_[key].is_array()) {
      if (j_[key].empty()) return std::nullopt;
      if (!j_[key][0].is_number_integer()) bad(key, "an integer or a list of integers");
      return j_[key][0].get<int64_t>();
    }
    return integer_value(key);
  }
  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number()) bad(key, "a number");
    return j_[key].get<double>();
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) bad(key, "true or false");
    return j_[key].get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) bad(key, "a string");
    return j_[key].get<std::string>();
  }
  [[noreturn]] void bad(const std::string& key, const char* expected) const {
    throw Error(
        str_cat(source_, ": key '", key, "' must be ", expected, " (got ", describe_config_value(j_[key]), ")"));
  }
  const std::string& source() const { return source_; }
  const nlohmann::json& json() const { return j_; }

 private:
  int64_t integer_value(const char* key) const {
    if (!j_[key].is_number_integer()) bad(key, "an integer");
    return j_[key].get<int64_t>();
  }
  const nlohmann::json& j_;
  std::string source_;
};

// Each family's config.json vocabulary, read into and written from a ModelSpec.
void read_gpt2_config(const ConfigReader& c, ModelSpec& s);
void read_llama_config(const ConfigReader& c, ModelSpec& s);
void read_gpt_neox_config(const ConfigReader& c, ModelSpec& s);
void read_gptj_config(const ConfigReader& c, ModelSpec& s);
void read_bert_config(const ConfigReader& c, ModelSpec& s);  // bert and roberta (encoder_config.cpp)
void read_vit_config(const ConfigReader& c, ModelSpec& s);   // encoder_config.cpp
void write_gpt2_config(const ModelSpec& s, nlohmann::ordered_json& j);
void write_llama_config(const ModelSpec& s, nlohmann::ordered_json& j);
void write_gpt_neox_config(const ModelSpec& s, nlohmann::ordered_json& j);
void write_gptj_config(const ModelSpec& s, nlohmann::ordered_json& j);
void write_bert_config(const ModelSpec& s, nlohmann::ordered_json& j);
void write_vit_config(const ModelSpec& s, nlohmann::ordered_json& j);
// The family's own fields of a synthetic shape (FamilyRow::synthetic_defaults).
bool synthetic_gpt2_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_llama_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_gpt_neox_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_gptj_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_bert_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_roberta_defaults(ModelSpec& s, bool intermediate_given);
bool synthetic_vit_defaults(ModelSpec& s, bool intermediate_given);

}  // namespace xai
