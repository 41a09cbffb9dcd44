// A family's tensors, each named once: the Hugging Face name, the shape in the spec's sizes and
// the field it fills. The same table gives the registry's validation list (TensorEntry, checked
// against a checkpoint before anything loads) and binds the weights into the model's structs.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "framework/common/error.h"
#include "framework/model/arch_registry.h"

namespace xai {


// The tensors outside the layers, as TransformerModel holds them.
struct GlobalWeights {
  at::Tensor embed;           // (V, D)
  at::Tensor positions;       // (P, D) learned positions, or undefined
  at::Tensor types;           // (types, D) token types (BERT), or undefined
  at::Tensor cls;             // (1, 1, D) ViT's [CLS] embedding, or undefined
  at::Tensor patch_w, patch_b;  // ViT's (D, C, P, P) patch projection and its bias
  at::Tensor norm_w, norm_b;  // the final norm (D), or the embeddings' (BERT); norm_b undefined
                              // for RMSNorm
  at::Tensor pool_w, pool_b;  // a classifier's (D, D) dense layer before the tanh, at [CLS]
  at::Tensor head;            // (V, D), may alias embed; a classifier's (classes, D)
  at::Tensor head_bias;       // (V) or undefined (GPT-J has one); a classifier's (classes)
};

// One tensor of the table and the field of `Owner` (a layer struct, or GlobalWeights) it fills.
template <class Owner>
struct TensorSlot {
  const char* name;  // a layer's: after "<layer prefix><i>."
  Dim rows;
  Dim cols;  // kNone: a vector
  at::Tensor Owner::*field;
  bool (*present)(const ModelSpec&) = nullptr;  // an optional tensor's switch; null: always there
  // With tie_word_embeddings the tensor may be left out of the checkpoint; it then shares this
  // field's tensor (the LM head and the embeddings).
  at::Tensor Owner::*tied = nullptr;
  // A tensor of more than two dimensions (ViT's (D, C, P, P) patch projection, its (1, N + 1, D)
  // positions): its shape, in place of rows x cols. Tensor parallelism does not split it.
  std::vector<int64_t> (*shape)(const ModelSpec&) = nullptr;
};

template <class Layer>
struct FamilyTensors {
  std::vector<TensorSlot<GlobalWeights>> first;  // before the layers (embeddings)
  const char* layer_prefix;                      // "transformer.h."
  std::vector<TensorSlot<Layer>> layer;
  std::vector<TensorSlot<GlobalWeights>> last;  // after them (final norm, head)

  // The registry's table for `s`, in model order.
  std::vector<TensorEntry> table(const ModelSpec& s) const {
    std::vector<TensorEntry> t;
    auto add = [&](const auto& slots, const std::string& prefix) {
      for (const auto& e : slots) {
        if (e.present && !e.present(s)) continue;
        TensorEntry entry{prefix + e.name, shape(e, s)};
        entry.rows = e.rows;
        entry.cols = e.cols;
        if (e.tied && s.tie_word_embeddings) {
          entry.role = TensorRole::kTied;
          entry.tied_to = tied_name(e.tied);
        }
        t.push_back(std::move(entry));
      }
    };
    add(first, "");
    for (int64_t i = 0; i < s.num_layers; ++i) add(layer, str_cat(layer_prefix, i, "."));
    add(last, "");
    return t;
  }

  // Fills `globals` and one Layer per layer through `load(canonical name, layer or -1, rows,
  // cols)` (the slot's dimension names, which say how tensor parallelism splits it).
  template <class Load>
  void bind(const ModelSpec& s, Load&& load, GlobalWeights& globals,
            std::vector<Layer>& layers) const {
    auto fill = [&](const auto& slots, auto& owner, const std::string& prefix, int layer_index) {
      for (const auto& e : slots) {
        if (e.present && !e.present(s)) continue;
        owner.*e.field = e.tied && s.tie_word_embeddings ? owner.*e.tied
                                                          : load(prefix + e.name, layer_index,
                                                                 e.rows, e.cols);
      }
    };
    fill(first, globals, "", -1);
    layers.resize(static_cast<size_t>(s.num_layers));
    for (int64_t i = 0; i < s.num_layers; ++i) {
      fill(layer, layers[i], str_cat(layer_prefix, i, "."), static_cast<int>(i));
    }
    fill(last, globals, "", -1);
  }

 private:
  template <class Slot>
  static std::vector<int64_t> shape(const Slot& e, const ModelSpec& s) {
    if (e.shape != nullptr) return e.shape(s);
    if (e.cols == Dim::kNone) return {dim_size(e.rows, s)};
    return {dim_size(e.rows, s), dim_size(e.cols, s)};
  }
  // The name of the global tensor in `field` (the tied head's partner).
  std::string tied_name(at::Tensor GlobalWeights::*field) const {
    for (const auto* slots : {&first, &last}) {
      for (const auto& e : *slots) {
        if (e.field == field) return e.name;
      }
    }
    throw Error("internal: a tied tensor's partner is not in the family's table");
  }
  std::string tied_name(at::Tensor Layer::*) const {
    throw Error("internal: only the tensors outside the layers can be tied");
  }
};

}  // namespace xai
