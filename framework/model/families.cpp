// The family registry's rows (family.h). XAI_SPEC_ONLY (the config.json fuzzer): no LibTorch, so
// no tensor tables and no constructors.
#include "framework/model/family.h"

#include "framework/common/error.h"
#include "framework/model/config_reader.h"

namespace xai {

#ifdef XAI_SPEC_ONLY
#define XAI_MODEL_SIDE(tensors, make) nullptr, nullptr
#else
#define XAI_MODEL_SIDE(tensors, make) tensors, make
#define XAI_FAMILY(f)                                                                   \
  std::vector<TensorEntry> f##_tensors(const ModelSpec& spec);                          \
  std::unique_ptr<Model> make_##f(const ModelSpec& spec, const WeightFn& weights,       \
                                  const LoadOptions& options, c10::ScalarType dtype);
// Each family's file defines these two.
XAI_FAMILY(gpt2)
XAI_FAMILY(llama)
XAI_FAMILY(gpt_neox)
XAI_FAMILY(gptj)
XAI_FAMILY(bert)
XAI_FAMILY(vit)
#undef XAI_FAMILY
#endif

const std::vector<FamilyRow>& family_rows() {
  // family, name, model_types, checkpoint prefix, config reader, writer, synthetic defaults,
  // tensors, constructor; grouped-query attention, gated MLP, learned positions, CP-LRP default,
  // causal attention, image input.
  static const std::vector<FamilyRow> rows = {
      {Family::kGpt2, "gpt2", {"gpt2"}, "transformer.", read_gpt2_config, write_gpt2_config,
       synthetic_gpt2_defaults, XAI_MODEL_SIDE(gpt2_tensors, make_gpt2), false, false, true, true,
       true, false},
      {Family::kLlama, "llama", {"llama", "mistral", "qwen2"}, "model.", read_llama_config,
       write_llama_config, synthetic_llama_defaults, XAI_MODEL_SIDE(llama_tensors, make_llama),
       true, true, false, false, true, false},
      {Family::kGptNeox, "gpt_neox", {"gpt_neox"}, "gpt_neox.", read_gpt_neox_config,
       write_gpt_neox_config, synthetic_gpt_neox_defaults,
       XAI_MODEL_SIDE(gpt_neox_tensors, make_gpt_neox), false, false, false, false, true, false},
      {Family::kGptj, "gptj", {"gptj"}, "transformer.", read_gptj_config, write_gptj_config,
       synthetic_gptj_defaults, XAI_MODEL_SIDE(gptj_tensors, make_gptj), false, false, false,
       false, true, false},
      // Encoders: one implementation (bert.cpp), two checkpoint layouts.
      {Family::kBert, "bert", {"bert"}, "bert.", read_bert_config, write_bert_config,
       synthetic_bert_defaults, XAI_MODEL_SIDE(bert_tensors, make_bert), false, false, true,
       false, false, false},
      {Family::kRoberta, "roberta", {"roberta"}, "roberta.", read_bert_config, write_bert_config,
       synthetic_roberta_defaults, XAI_MODEL_SIDE(bert_tensors, make_bert), false, false, true,
       false, false, false},
      // Images: patches of a ViT are its tokens.
      {Family::kVit, "vit", {"vit"}, "vit.", read_vit_config, write_vit_config,
       synthetic_vit_defaults, XAI_MODEL_SIDE(vit_tensors, make_vit), false, false, true, false,
       false, true},
  };
  return rows;
}

#undef XAI_MODEL_SIDE

const FamilyRow& family_row(Family family) {
  for (const FamilyRow& r : family_rows()) {
    if (r.family == family) return r;
  }
  throw Error("internal: a Family without a row in families.cpp");
}

const FamilyRow* family_for_model_type(const std::string& model_type) {
  for (const FamilyRow& r : family_rows()) {
    for (const char* t : r.model_types) {
      if (model_type == t) return &r;
    }
  }
  return nullptr;
}

const FamilyRow* family_by_name(const std::string& name) {
  for (const FamilyRow& r : family_rows()) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

std::string supported_model_types() {
  std::string s;
  for (const FamilyRow& r : family_rows()) {
    for (const char* t : r.model_types) s += (s.empty() ? "" : ", ") + std::string(t);
  }
  return s;
}

std::string family_names() {
  const auto& rows = family_rows();
  std::string s;
  for (size_t i = 0; i < rows.size(); ++i) {
    s += (i == 0 ? "" : i + 1 == rows.size() ? " or " : ", ") + std::string(rows[i].name);
  }
  return s;
}

const char* family_name(Family f) { return family_row(f).name; }

bool is_causal(const ModelSpec& spec) { return family_row(spec.family).causal; }
bool reads_images(const ModelSpec& spec) { return family_row(spec.family).images; }

}  // namespace xai
