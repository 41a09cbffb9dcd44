// Internal: the forward skeleton shared by every family, decoders and encoders (embeddings, mask
// and positions, one block per layer, written-out attention with its control hooks, the head at
// selected positions). A family supplies its blocks; nothing here is family-specific beyond the
// family row's traits (causal attention, learned positions).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>

#include "framework/model/block_attention.h"
#include "framework/model/family.h"
#include "framework/model/model.h"
#include "framework/model/tensor_parallel.h"
#include "framework/model/tensor_table.h"

namespace xai {

// What one forward call carries through its layers.
struct ForwardState {
  const AttentionControl* control = nullptr;
  const KVCache* past = nullptr;
  int64_t B = 0, T = 0, S = 0, past_len = 0;
  at::Tensor positions;  // (B, T) int64 absolute positions (counted over real tokens)
  at::Tensor mask;       // (B or 1, 1, T, S) float additive: 0 allowed, very negative masked
  at::Tensor allowed;    // (B or 1, 1, T, S) bool, same information
  at::Tensor key_valid;  // (B, S) bool from the attention mask; undefined = all keys real
  at::Tensor token_types;  // (B, T) int64 (ForwardRequest::token_type_ids), or undefined
  at::Tensor rope_cos, rope_sin;  // (B, 1, T, Dh) for rotary families
  // The last layer's output is needed only at rows >= last_layer_rows_from (the lowest position
  // whose logits are asked for): its attention, output projection and MLP run on those rows only
  // (the keys and values still cover every row). 0 = every row.
  int64_t last_layer_rows_from = 0;
  ForwardResult* result = nullptr;
  bool return_cache = false;
  GradientRules rules = GradientRules::kStandard;
  // 0-dim int64 from a GradientSwitch: the rules' backward runs while it holds 1, the plain
  // gradient while it holds 0. Undefined: always the rules.
  at::Tensor rule_flag;
};

class TransformerModel : public Model {
 public:
  ForwardResult forward(const ForwardRequest& request, const AttentionControl& control) override;
  at::Tensor embed(const at::Tensor& ids) override;
  const ModelSpec& spec() const override { return spec_; }
  at::Device device() const override { return device_; }
  at::ScalarType dtype() const override { return dtype_; }
  size_t release_layer(int layer) override;
  int tensor_parallel() const override { return split_.size; }
  VocabSlice vocab_slice() const override;

 protected:
  TransformerModel(ModelSpec spec, const LoadOptions& options, at::ScalarType dtype);

  // Per-family pieces.
  virtual void prepare(ForwardState& st) {}  // e.g. rotary tables from st.positions
  virtual at::Tensor add_positions(const at::Tensor& x, const ForwardState& st) { return x; }
  // (B, T, D) -> (B, T - rows_from(layer, st), D): a block returns only the rows from there on.
  virtual at::Tensor block(int layer, const at::Tensor& x, ForwardState& st) = 0;
  int64_t rows_from(int layer, const ForwardState& st) const {
    return layer == spec_.num_layers - 1 ? st.last_layer_rows_from : 0;
  }
  virtual at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) = 0;
  // (B, P, D) after final_norm -> (B, P, output) logits: the LM head by default (one rank).
  virtual at::Tensor head(const at::Tensor& h, ForwardState& st);
  GlobalWeights globals_;  // embeddings, final norm, head

  // Building blocks that follow st.rules in their backward (see GradientRules).
  // x (B, T, in) -> (B, T, out); w is (in, out) when in_out (GPT-2's Conv1D), else (out, in).
  // `summed`: a row-parallel layer's group, whose ranks each hold part of the inputs: the partial
  // products are summed over it before the bias (and the z+ rule's z with them).
  static at::Tensor linear(const ForwardState& st, const at::Tensor& x, const at::Tensor& w,
                           const at::Tensor& b, bool in_out,
                           const TensorGroup* summed = nullptr);
  static at::Tensor layer_norm(const ForwardState& st, const at::Tensor& x, const at::Tensor& w,
                               const at::Tensor& b, double eps);
  static at::Tensor rms_norm(const ForwardState& st, const at::Tensor& x, const at::Tensor& w,
                             double eps);
  at::Tensor act(const ForwardState& st, const at::Tensor& u) const;  // spec's activation
  // A named one ("tanh": a classifier head's), with the same rules.
  static at::Tensor act(const ForwardState& st, const at::Tensor& u, const std::string& name);
  static at::Tensor gated(const ForwardState& st, const at::Tensor& g, const at::Tensor& u);
  // The residual add x + branch, both (B, T, D), under st.rules.
  static at::Tensor residual(const ForwardState& st, const at::Tensor& x, const at::Tensor& branch);
  // y + mlp(h) for the position-wise MLP, h and y (B, T, D). Inference over many rows runs mlp on
  // chunks of rows, adding into y in place, so the (rows, intermediate) activations stay small
  // and in cache (AtMan's perturbation batches); with gradients it is residual(y, mlp(h)).
  static at::Tensor add_mlp(const ForwardState& st, const at::Tensor& y, const at::Tensor& h,
                            const std::function<at::Tensor(const at::Tensor&)>& mlp);

  // Tensor parallelism (tensor_parallel.h). The heads this rank computes (all of them on one
  // rank): blocks view their projections with these counts.
  int64_t heads() const { return split_.local_heads(); }
  int64_t kv_heads() const { return split_.local_kv_heads(); }
  // The input of column-parallel projections (q, k, v, MLP up and gate): replicated on the
  // group's ranks, its gradient summed over them (Megatron's f). The identity on one rank.
  at::Tensor enter(const at::Tensor& h) const;
  // A row-parallel projection (attention output, MLP down): the partial products summed over the
  // group, then the bias (Megatron's g). linear() on one rank.
  at::Tensor row_linear(const ForwardState& st, const at::Tensor& x, const at::Tensor& w,
                        const at::Tensor& b, bool in_out) const;

  // ctl.probs_grad for the rows from r0 on of `layer`, as the attention's backward calls it per
  // block of rows: under tensor parallelism with every head's probabilities and gradients.
  ProbsGradSink probs_grad_sink(const AttentionControl& ctl, int layer, int64_t r0) const;

  // Written-out attention: q (B, H, T, Dh), k and v (B, Hkv, T, Dh) of this call's tokens.
  // Appends them to the cached prefix, applies the control, returns (B, T, H * Dh).
  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    double scale, ForwardState& st);

  // One weight (canonical name) on the model's device and dtype. A tensor already there is used
  // as is: fp32 on CPU stays a zero-copy view of the mapped file, and in-memory weights keep
  // their identity (so a training loop's parameters are the model's).
  // `layer`: the layer it belongs to, -1 outside the layers.
  // Under tensor parallelism, only this rank's part of it (`rows`, `cols`: its table dimensions).
  at::Tensor weight(const WeightFn& source, const std::string& name, int layer, Dim rows,
                    Dim cols);
  // Every tensor of the family's table: globals_ and one Layer per layer, through weight().
  template <class Layer>
  void bind_weights(const FamilyTensors<Layer>& tensors, const WeightFn& source,
                    std::vector<Layer>& layers) {
    tensors.bind(
        spec_,
        [&](const std::string& name, int layer, Dim rows, Dim cols) {
          return weight(source, name, layer, rows, cols);
        },
        globals_, layers);
  }

  ModelSpec spec_;
  at::Device device_;
  at::ScalarType dtype_;
  const TensorGroup* group_ = nullptr;  // null on one rank
  TensorSplit split_;
  // Per layer, the weights used in place from the source (views of a mapped checkpoint on the
  // CPU): what release_layer may drop. Found from the canonical names ("....h.3.", "...layers.3.").
  std::vector<std::vector<at::Tensor>> layer_weights_;
};

// Elementwise activation by its Hugging Face name; throws for an unknown one.
at::Tensor activation(const std::string& name, const at::Tensor& x);
void check_activation_supported(const ModelSpec& spec);

// The family's model on `weights` (through its row in families.cpp; loader.cpp).
std::unique_ptr<Model> make_family_model(const ModelSpec& spec, const WeightFn& weights,
                                         const LoadOptions& options, at::ScalarType dtype);

}  // namespace xai
