// GPT-J (GPTJForCausalLM, AtMan's own base model): separate q/k/v/out projections without bias,
// rotary embedding on the first rotary_dim dimensions of each head in the interleaved
// (rotate-every-two) layout, one LayerNorm feeding attention and MLP in parallel, gelu_new, and
// an LM head with a bias.
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"
#include "framework/model/rope.h"

namespace xai {
namespace {

struct GptjLayer {
  at::Tensor ln_w, ln_b;          // ln_1 (D)
  at::Tensor wq, wk, wv, wo;      // (D, D) each, no bias
  at::Tensor fc_in_w, fc_in_b;    // (F, D), (F)
  at::Tensor fc_out_w, fc_out_b;  // (D, F), (D)
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, V = Dim::kVocab, Q = Dim::kQ, KV = Dim::kKV,
              kVector = Dim::kNone;

const FamilyTensors<GptjLayer> kTensors = {
    {{"transformer.wte.weight", V, D, &GlobalWeights::embed}},
    "transformer.h.",
    {{"ln_1.weight", D, kVector, &GptjLayer::ln_w},
     {"ln_1.bias", D, kVector, &GptjLayer::ln_b},
     {"attn.q_proj.weight", Q, D, &GptjLayer::wq},
     {"attn.k_proj.weight", KV, D, &GptjLayer::wk},
     {"attn.v_proj.weight", KV, D, &GptjLayer::wv},
     {"attn.out_proj.weight", D, Q, &GptjLayer::wo},
     {"mlp.fc_in.weight", F, D, &GptjLayer::fc_in_w},
     {"mlp.fc_in.bias", F, kVector, &GptjLayer::fc_in_b},
     {"mlp.fc_out.weight", D, F, &GptjLayer::fc_out_w},
     {"mlp.fc_out.bias", D, kVector, &GptjLayer::fc_out_b}},
    {{"transformer.ln_f.weight", D, kVector, &GlobalWeights::norm_w},
     {"transformer.ln_f.bias", D, kVector, &GlobalWeights::norm_b},
     {"lm_head.weight", V, D, &GlobalWeights::head, nullptr, &GlobalWeights::embed},
     {"lm_head.bias", V, kVector, &GlobalWeights::head_bias}},
};

class Gptj final : public TransformerModel {
 public:
  Gptj(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options, at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(kTensors, src, layers_);
    inv_freq_ = rope_inverse_frequencies(spec).to(device_);  // (rotary_dim / 2) float
  }

 protected:
  void prepare(ForwardState& st) override {
    rotary_tables(st.positions, inv_freq_, dtype_, st.rope_cos, st.rope_sin, /*interleaved=*/true);
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const GptjLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Dh = spec_.head_dim;
    const at::Tensor h = enter(layer_norm(st, x, L.ln_w, L.ln_b, spec_.norm_eps));  // (B, T, D)
    auto project = [&](const at::Tensor& w) {  // (B, H, T, Dh)
      return linear(st, h, w, at::Tensor(), false).view({B, T, H, Dh}).transpose(1, 2);
    };
    const at::Tensor q = apply_rotary(project(L.wq), st.rope_cos, st.rope_sin, true);
    const at::Tensor k = apply_rotary(project(L.wk), st.rope_cos, st.rope_sin, true).contiguous();
    const at::Tensor v = project(L.wv).contiguous();  // (B, H, T, Dh)
    const int64_t r0 = rows_from(l, st);            // queries (and the rows returned) from r0 on
    at::Tensor a = attend(l, q.slice(2, r0), k, v, 1.0 / std::sqrt(static_cast<double>(Dh)),
                          st);  // (B, T - r0, D)
    // x + attn(ln(x)) + mlp(ln(x)): one LayerNorm feeds both branches.
    const at::Tensor y =
        residual(st, x.slice(1, r0), row_linear(st, a, L.wo, at::Tensor(), false));
    return add_mlp(st, y, h.slice(1, r0), [&](const at::Tensor& r) {
      return row_linear(st, act(st, linear(st, r, L.fc_in_w, L.fc_in_b, false)), L.fc_out_w,
                        L.fc_out_b, false);
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return layer_norm(st, x, globals_.norm_w, globals_.norm_b, spec_.norm_eps);
  }

 private:
  std::vector<GptjLayer> layers_;
  at::Tensor inv_freq_;
};

}  // namespace

std::vector<TensorEntry> gptj_tensors(const ModelSpec& spec) { return kTensors.table(spec); }

std::unique_ptr<Model> make_gptj(const ModelSpec& spec, const WeightFn& src,
                                 const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Gptj>(spec, src, options, dtype);
}

}  // namespace xai
