// Llama family (LlamaForCausalLM; the same code serves MistralForCausalLM and Qwen2ForCausalLM):
// RMSNorm, rotary position embedding in Hugging Face's rotate-half layout, grouped-query
// attention, SwiGLU MLP, optional QKV / output / MLP biases, tied or untied head.
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/decoder.h"
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

class Llama final : public DecoderLM {
 public:
  Llama(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options,
        at::ScalarType dtype)
      : DecoderLM(spec, options, dtype) {
    wte_ = weight(src, "model.embed_tokens.weight");
    lm_head_ = !spec.tie_word_embeddings ? weight(src, "lm_head.weight") : wte_;
    for (int64_t i = 0; i < spec.num_layers; ++i) {
      auto w = [&](const char* rest) {
        return weight(src, str_cat("model.layers.", i, ".", rest));
      };
      LlamaLayer L;
      L.attn_norm = w("input_layernorm.weight");
      L.wq = w("self_attn.q_proj.weight");
      L.wk = w("self_attn.k_proj.weight");
      L.wv = w("self_attn.v_proj.weight");
      L.wo = w("self_attn.o_proj.weight");
      if (spec.qkv_bias) {
        L.bq = w("self_attn.q_proj.bias");
        L.bk = w("self_attn.k_proj.bias");
        L.bv = w("self_attn.v_proj.bias");
      }
      if (spec.o_bias) L.bo = w("self_attn.o_proj.bias");
      L.mlp_norm = w("post_attention_layernorm.weight");
      L.w_gate = w("mlp.gate_proj.weight");
      L.w_up = w("mlp.up_proj.weight");
      L.w_down = w("mlp.down_proj.weight");
      if (spec.mlp_bias) {
        L.b_gate = w("mlp.gate_proj.bias");
        L.b_up = w("mlp.up_proj.bias");
        L.b_down = w("mlp.down_proj.bias");
      }
      layers_.push_back(std::move(L));
    }
    norm_ = weight(src, "model.norm.weight");
    inv_freq_ = rope_inverse_frequencies(spec).to(device_);  // (Dh / 2) float
  }

 protected:
  void prepare(ForwardState& st) override {
    rotary_tables(st.positions, inv_freq_, dtype_, st.rope_cos, st.rope_sin);
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const LlamaLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = spec_.num_heads, Hkv = spec_.num_kv_heads,
                  Dh = spec_.head_dim;
    at::Tensor h = rms_norm(st, x, L.attn_norm, spec_.norm_eps);  // (B, T, D)
    at::Tensor q = linear(st, h, L.wq, L.bq, false).view({B, T, H, Dh}).transpose(1, 2);
    at::Tensor k = linear(st, h, L.wk, L.bk, false).view({B, T, Hkv, Dh}).transpose(1, 2);
    at::Tensor v =
        linear(st, h, L.wv, L.bv, false).view({B, T, Hkv, Dh}).transpose(1, 2).contiguous();
    q = apply_rotary(q, st.rope_cos, st.rope_sin);
    k = apply_rotary(k, st.rope_cos, st.rope_sin);
    const int64_t r0 = rows_from(l, st);  // queries (and the rows returned) from r0 on
    at::Tensor a = attend(l, q.slice(2, r0), k, v, 1.0 / std::sqrt(static_cast<double>(Dh)),
                          st);  // (B, T - r0, H*Dh)
    at::Tensor y = residual(st, x.slice(1, r0), linear(st, a, L.wo, L.bo, false));
    h = rms_norm(st, y, L.mlp_norm, spec_.norm_eps);
    return add_mlp(st, y, h, [&](const at::Tensor& r) {
      at::Tensor gate = act(st, linear(st, r, L.w_gate, L.b_gate, false));  // (b, t, F)
      at::Tensor up = linear(st, r, L.w_up, L.b_up, false);
      return linear(st, gated(st, gate, up), L.w_down, L.b_down, false);
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return rms_norm(st, x, norm_, spec_.norm_eps);
  }

 private:
  std::vector<LlamaLayer> layers_;
  at::Tensor norm_;
  at::Tensor inv_freq_;
};

}  // namespace

std::unique_ptr<Model> make_llama(const ModelSpec& spec, const WeightFn& src,
                                  const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Llama>(spec, src, options, dtype);
}

}  // namespace xai
