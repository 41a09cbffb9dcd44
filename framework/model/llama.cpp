// Llama family (LlamaForCausalLM; the same code serves MistralForCausalLM and Qwen2ForCausalLM):
// RMSNorm, rotary position embedding in Hugging Face's rotate-half layout, grouped-query
// attention, SwiGLU MLP, optional QKV / output / MLP biases, tied or untied head.
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"
#include "framework/model/rope.h"

namespace xai {
namespace {

struct LlamaLayer {
  at::Tensor attn_norm;             // (D)
  at::Tensor wq, wk, wv, wo;        // (H*Dh, D), (Hkv*Dh, D), (Hkv*Dh, D), (D, H*Dh)
  at::Tensor bq, bk, bv, bo;        // optional
  at::Tensor mlp_norm;              // (D)
  at::Tensor w_gate, w_up, w_down;  // (F, D), (F, D), (D, F)
  at::Tensor b_gate, b_up, b_down;  // optional
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, V = Dim::kVocab, Q = Dim::kQ, KV = Dim::kKV,
              kVector = Dim::kNone;
bool qkv_bias(const ModelSpec& s) { return s.qkv_bias; }
bool o_bias(const ModelSpec& s) { return s.o_bias; }
bool mlp_bias(const ModelSpec& s) { return s.mlp_bias; }

const FamilyTensors<LlamaLayer> kTensors = {
    {{"model.embed_tokens.weight", V, D, &GlobalWeights::embed}},
    "model.layers.",
    {{"input_layernorm.weight", D, kVector, &LlamaLayer::attn_norm},
     {"self_attn.q_proj.weight", Q, D, &LlamaLayer::wq},
     {"self_attn.k_proj.weight", KV, D, &LlamaLayer::wk},
     {"self_attn.v_proj.weight", KV, D, &LlamaLayer::wv},
     {"self_attn.q_proj.bias", Q, kVector, &LlamaLayer::bq, qkv_bias},
     {"self_attn.k_proj.bias", KV, kVector, &LlamaLayer::bk, qkv_bias},
     {"self_attn.v_proj.bias", KV, kVector, &LlamaLayer::bv, qkv_bias},
     {"self_attn.o_proj.weight", D, Q, &LlamaLayer::wo},
     {"self_attn.o_proj.bias", D, kVector, &LlamaLayer::bo, o_bias},
     {"post_attention_layernorm.weight", D, kVector, &LlamaLayer::mlp_norm},
     {"mlp.gate_proj.weight", F, D, &LlamaLayer::w_gate},
     {"mlp.up_proj.weight", F, D, &LlamaLayer::w_up},
     {"mlp.down_proj.weight", D, F, &LlamaLayer::w_down},
     {"mlp.gate_proj.bias", F, kVector, &LlamaLayer::b_gate, mlp_bias},
     {"mlp.up_proj.bias", F, kVector, &LlamaLayer::b_up, mlp_bias},
     {"mlp.down_proj.bias", D, kVector, &LlamaLayer::b_down, mlp_bias}},
    {{"model.norm.weight", D, kVector, &GlobalWeights::norm_w},
     {"lm_head.weight", V, D, &GlobalWeights::head, nullptr, &GlobalWeights::embed}},
};

class Llama final : public TransformerModel {
 public:
  Llama(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options,
        at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(kTensors, src, layers_);
    inv_freq_ = rope_inverse_frequencies(spec).to(device_);  // (Dh / 2) float
  }

 protected:
  void prepare(ForwardState& st) override {
    rotary_tables(st.positions, inv_freq_, dtype_, st.rope_cos, st.rope_sin);
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const LlamaLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Hkv = kv_heads(), Dh = spec_.head_dim;
    at::Tensor h = enter(rms_norm(st, x, L.attn_norm, spec_.norm_eps));  // (B, T, D)
    at::Tensor q = linear(st, h, L.wq, L.bq, false).view({B, T, H, Dh}).transpose(1, 2);
    at::Tensor k = linear(st, h, L.wk, L.bk, false).view({B, T, Hkv, Dh}).transpose(1, 2);
    at::Tensor v =
        linear(st, h, L.wv, L.bv, false).view({B, T, Hkv, Dh}).transpose(1, 2).contiguous();
    q = apply_rotary(q, st.rope_cos, st.rope_sin);
    k = apply_rotary(k, st.rope_cos, st.rope_sin);
    const int64_t r0 = rows_from(l, st);  // queries (and the rows returned) from r0 on
    at::Tensor a = attend(l, q.slice(2, r0), k, v, 1.0 / std::sqrt(static_cast<double>(Dh)),
                          st);  // (B, T - r0, H*Dh)
    at::Tensor y = residual(st, x.slice(1, r0), row_linear(st, a, L.wo, L.bo, false));
    h = enter(rms_norm(st, y, L.mlp_norm, spec_.norm_eps));
    return add_mlp(st, y, h, [&](const at::Tensor& r) {
      at::Tensor gate = act(st, linear(st, r, L.w_gate, L.b_gate, false));  // (b, t, F)
      at::Tensor up = linear(st, r, L.w_up, L.b_up, false);
      return row_linear(st, gated(st, gate, up), L.w_down, L.b_down, false);
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return rms_norm(st, x, globals_.norm_w, spec_.norm_eps);
  }

 private:
  std::vector<LlamaLayer> layers_;
  at::Tensor inv_freq_;
};

}  // namespace

std::vector<TensorEntry> llama_tensors(const ModelSpec& spec) { return kTensors.table(spec); }

std::unique_ptr<Model> make_llama(const ModelSpec& spec, const WeightFn& src,
                                  const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Llama>(spec, src, options, dtype);
}

}  // namespace xai
