// The family registry: one row per model family, the only place that lists them. A row says
// which config.json model_types the family reads, how (its config reader and writer), the prefix
// of its checkpoint names, its tensor table, its model constructor, and the few traits the planner
// and the explainers ask about. Adding a family: its model file (tensor table + blocks), its
// config reader/writer and synthetic defaults (model_spec.cpp), a Family enumerator and one row
// in families.cpp.
//
// LibTorch-free (the config.json fuzzer builds it without LibTorch, the model side left empty).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/model_spec.h"

namespace c10 {
enum class ScalarType : int8_t;
}
namespace at {
class Tensor;
}

namespace xai {

class ConfigReader;
class Model;
struct LoadOptions;
struct TensorEntry;

// Gives a weight by canonical name: from a checkpoint, or from tensors in memory.
using WeightFn = std::function<at::Tensor(const std::string& canonical)>;

struct FamilyRow {
  Family family;
  const char* name;                      // "gptj": messages, `synthetic.family`, provenance
  std::vector<const char*> model_types;  // config.json model_type values this family reads
  // The *ForCausalLM checkpoint's prefix of every name outside the head ("transformer."); a
  // base-model checkpoint leaves it out.
  const char* checkpoint_prefix;
  void (*read_config)(const ConfigReader& config, ModelSpec& spec);
  void (*write_config)(const ModelSpec& spec, nlohmann::ordered_json& config);
  // `synthetic:` shapes (synthetic.cpp): sets the family's own fields of a spec whose sizes are
  // set (model_type, activation, rotary share, biases; the MLP width unless `intermediate_given`)
  // and returns whether its head is tied by default.
  bool (*synthetic_defaults)(ModelSpec& spec, bool intermediate_given);
  // Model side: null in a build without LibTorch.
  std::vector<TensorEntry> (*tensors)(const ModelSpec& spec);  // every tensor, in model order
  std::unique_ptr<Model> (*make)(const ModelSpec& spec, const WeightFn& weights,
                                 const LoadOptions& options, c10::ScalarType dtype);
  // Traits.
  bool grouped_query;      // kv_heads and head_dim may differ from heads and hidden / heads
  bool gated_mlp;          // SwiGLU: gate and up projections (the planner's MLP footprint)
  bool learned_positions;  // a position table (no rotary), so inputs end at max_positions
  // AttnLRP's `variant: auto` picks CP-LRP rather than AttnLRP (GPT-2, as LXT does).
  bool cp_lrp_by_default;
  // Each position attends to itself and the ones before it (a decoder). False: an encoder, whose
  // attention is bidirectional (every position sees every real one), so a change anywhere
  // reaches every position: no cached prefix, and nothing may assume a later token is unseen.
  bool causal;
  // The model reads images (ForwardRequest::pixel_values), not token ids: no vocabulary.
  bool images;
};

const std::vector<FamilyRow>& family_rows();
const FamilyRow& family_row(Family family);
// The row that reads this config.json model_type, or null.
const FamilyRow* family_for_model_type(const std::string& model_type);
// The row named `name` ("gpt_neox"), or null.
const FamilyRow* family_by_name(const std::string& name);
// Whether the family's attention is causal (FamilyRow::causal).
bool is_causal(const ModelSpec& spec);
// Whether the family reads images (FamilyRow::images).
bool reads_images(const ModelSpec& spec);
// "gpt2, llama, mistral, qwen2, gpt_neox, gptj": every model_type, for messages.
std::string supported_model_types();
// "gpt2, llama, gpt_neox or gptj": every family name, for messages.
std::string family_names();

}  // namespace xai
