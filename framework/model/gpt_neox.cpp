// GPT-NeoX (GPTNeoXForCausalLM: Pythia, GPT-NeoX-20B): LayerNorm with bias, one fused
// query_key_value projection laid out per head as (H, 3, Dh), rotary embedding on the first
// rotary_dims of each head in the rotate-half layout, attention and MLP reading the block input in
// parallel (use_parallel_residual) or in sequence, exact GELU, an untied embed_out head.
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"
#include "framework/model/rope.h"

namespace xai {
namespace {

struct NeoxLayer {
  at::Tensor ln1_w, ln1_b;      // input_layernorm (D)
  at::Tensor qkv_w, qkv_b;      // (3D, D) rows per head h: [q_h, k_h, v_h], each Dh; (3D)
  at::Tensor dense_w, dense_b;  // (D, D), (D)
  at::Tensor ln2_w, ln2_b;      // post_attention_layernorm (D)
  at::Tensor up_w, up_b;        // dense_h_to_4h (F, D), (F)
  at::Tensor down_w, down_b;    // dense_4h_to_h (D, F), (D)
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, V = Dim::kVocab, Q = Dim::kQ,
              QKV = Dim::kQKVHeads, kVector = Dim::kNone;
bool qkv_bias(const ModelSpec& s) { return s.qkv_bias; }
bool o_bias(const ModelSpec& s) { return s.o_bias; }

const FamilyTensors<NeoxLayer> kTensors = {
    {{"gpt_neox.embed_in.weight", V, D, &GlobalWeights::embed}},
    "gpt_neox.layers.",
    {{"input_layernorm.weight", D, kVector, &NeoxLayer::ln1_w},
     {"input_layernorm.bias", D, kVector, &NeoxLayer::ln1_b},
     {"attention.query_key_value.weight", QKV, D, &NeoxLayer::qkv_w},
     {"attention.query_key_value.bias", QKV, kVector, &NeoxLayer::qkv_b, qkv_bias},
     {"attention.dense.weight", D, Q, &NeoxLayer::dense_w},
     {"attention.dense.bias", D, kVector, &NeoxLayer::dense_b, o_bias},
     {"post_attention_layernorm.weight", D, kVector, &NeoxLayer::ln2_w},
     {"post_attention_layernorm.bias", D, kVector, &NeoxLayer::ln2_b},
     {"mlp.dense_h_to_4h.weight", F, D, &NeoxLayer::up_w},
     {"mlp.dense_h_to_4h.bias", F, kVector, &NeoxLayer::up_b},
     {"mlp.dense_4h_to_h.weight", D, F, &NeoxLayer::down_w},
     {"mlp.dense_4h_to_h.bias", D, kVector, &NeoxLayer::down_b}},
    {{"gpt_neox.final_layer_norm.weight", D, kVector, &GlobalWeights::norm_w},
     {"gpt_neox.final_layer_norm.bias", D, kVector, &GlobalWeights::norm_b},
     {"embed_out.weight", V, D, &GlobalWeights::head, nullptr, &GlobalWeights::embed}},
};

class GptNeox final : public TransformerModel {
 public:
  GptNeox(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options,
          at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(kTensors, src, layers_);
    inv_freq_ = rope_inverse_frequencies(spec).to(device_);  // (rotary_dims / 2) float
  }

 protected:
  void prepare(ForwardState& st) override {
    rotary_tables(st.positions, inv_freq_, dtype_, st.rope_cos, st.rope_sin);  // (B, 1, T, rd)
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const NeoxLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Dh = spec_.head_dim;
    at::Tensor h = enter(layer_norm(st, x, L.ln1_w, L.ln1_b, spec_.norm_eps));  // (B, T, D)
    auto parts = linear(st, h, L.qkv_w, L.qkv_b, false).view({B, T, H, 3, Dh}).unbind(3);
    at::Tensor q = apply_rotary(parts[0].transpose(1, 2), st.rope_cos, st.rope_sin);
    at::Tensor k = apply_rotary(parts[1].transpose(1, 2), st.rope_cos, st.rope_sin);
    at::Tensor v = parts[2].transpose(1, 2).contiguous();  // (B, H, T, Dh)
    const int64_t r0 = rows_from(l, st);  // queries (and the rows returned) from r0 on
    at::Tensor a = attend(l, q.slice(2, r0), k.contiguous(), v,
                          1.0 / std::sqrt(static_cast<double>(Dh)), st);  // (B, T - r0, D)
    const at::Tensor x0 = x.slice(1, r0);
    at::Tensor y = residual(st, x0, row_linear(st, a, L.dense_w, L.dense_b, false));
    // Parallel: the MLP reads the block input; sequential: the attention's output.
    h = enter(layer_norm(st, spec_.parallel_residual ? x0 : y, L.ln2_w, L.ln2_b, spec_.norm_eps));
    return add_mlp(st, y, h, [&](const at::Tensor& r) {
      return row_linear(st, act(st, linear(st, r, L.up_w, L.up_b, false)), L.down_w, L.down_b,
                        false);
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return layer_norm(st, x, globals_.norm_w, globals_.norm_b, spec_.norm_eps);
  }

 private:
  std::vector<NeoxLayer> layers_;
  at::Tensor inv_freq_;
};

}  // namespace

std::vector<TensorEntry> gpt_neox_tensors(const ModelSpec& spec) { return kTensors.table(spec); }

std::unique_ptr<Model> make_gpt_neox(const ModelSpec& spec, const WeightFn& src,
                                     const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<GptNeox>(spec, src, options, dtype);
}

}  // namespace xai
