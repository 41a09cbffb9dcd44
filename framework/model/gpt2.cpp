// GPT-2 (GPT2LMHeadModel): learned positions, pre-LayerNorm blocks, fused QKV, Conv1D weights
// stored [in, out] (used as x @ W, so no transpose and no copy), tied LM head.
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"

namespace xai {
namespace {

struct Gpt2Layer {
  at::Tensor ln1_w, ln1_b;          // (D)
  at::Tensor attn_w, attn_b;        // (D, 3D), (3D)
  at::Tensor proj_w, proj_b;        // (D, D), (D)
  at::Tensor ln2_w, ln2_b;          // (D)
  at::Tensor fc_w, fc_b;            // (D, F), (F)
  at::Tensor fc_proj_w, fc_proj_b;  // (F, D), (D)
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, V = Dim::kVocab, P = Dim::kPositions,
              Q = Dim::kQ, D3 = Dim::k3Hidden, kVector = Dim::kNone;

// Conv1D weights are stored [in, out]; c_proj's input is the heads' output (Q = H Dh = D).
const FamilyTensors<Gpt2Layer> kTensors = {
    {{"transformer.wte.weight", V, D, &GlobalWeights::embed},
     {"transformer.wpe.weight", P, D, &GlobalWeights::positions}},
    "transformer.h.",
    {{"ln_1.weight", D, kVector, &Gpt2Layer::ln1_w},
     {"ln_1.bias", D, kVector, &Gpt2Layer::ln1_b},
     {"attn.c_attn.weight", D, D3, &Gpt2Layer::attn_w},
     {"attn.c_attn.bias", D3, kVector, &Gpt2Layer::attn_b},
     {"attn.c_proj.weight", Q, D, &Gpt2Layer::proj_w},
     {"attn.c_proj.bias", D, kVector, &Gpt2Layer::proj_b},
     {"ln_2.weight", D, kVector, &Gpt2Layer::ln2_w},
     {"ln_2.bias", D, kVector, &Gpt2Layer::ln2_b},
     {"mlp.c_fc.weight", D, F, &Gpt2Layer::fc_w},
     {"mlp.c_fc.bias", F, kVector, &Gpt2Layer::fc_b},
     {"mlp.c_proj.weight", F, D, &Gpt2Layer::fc_proj_w},
     {"mlp.c_proj.bias", D, kVector, &Gpt2Layer::fc_proj_b}},
    {{"transformer.ln_f.weight", D, kVector, &GlobalWeights::norm_w},
     {"transformer.ln_f.bias", D, kVector, &GlobalWeights::norm_b},
     {"lm_head.weight", V, D, &GlobalWeights::head, nullptr, &GlobalWeights::embed}},
};

class Gpt2 final : public TransformerModel {
 public:
  Gpt2(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options, at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(kTensors, src, layers_);
  }

 protected:
  at::Tensor add_positions(const at::Tensor& x, const ForwardState& st) override {
    return x + at::embedding(globals_.positions, st.positions);  // (B, T, D)
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const Gpt2Layer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Dh = spec_.head_dim;
    at::Tensor h = enter(layer_norm(st, x, L.ln1_w, L.ln1_b, spec_.norm_eps));  // (B, T, D)
    at::Tensor qkv = linear(st, h, L.attn_w, L.attn_b, true);            // (B, T, 3D)
    auto parts = qkv.view({B, T, 3, H, Dh}).unbind(2);                   // 3 x (B, T, H, Dh)
    at::Tensor q = parts[0].transpose(1, 2);                             // (B, H, T, Dh)
    at::Tensor k = parts[1].transpose(1, 2).contiguous();
    at::Tensor v = parts[2].transpose(1, 2).contiguous();
    double scale = spec_.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(Dh)) : 1.0;
    if (spec_.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(l + 1);
    const int64_t r0 = rows_from(l, st);  // queries (and the rows returned) from r0 on
    at::Tensor a = attend(l, q.slice(2, r0), k, v, scale, st);  // (B, T - r0, D)
    at::Tensor y = residual(st, x.slice(1, r0), row_linear(st, a, L.proj_w, L.proj_b, true));
    h = enter(layer_norm(st, y, L.ln2_w, L.ln2_b, spec_.norm_eps));
    return add_mlp(st, y, h, [&](const at::Tensor& r) {
      return row_linear(st, act(st, linear(st, r, L.fc_w, L.fc_b, true)), L.fc_proj_w,
                        L.fc_proj_b, true);  // (b, t, F) inside
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return layer_norm(st, x, globals_.norm_w, globals_.norm_b, spec_.norm_eps);
  }

 private:
  std::vector<Gpt2Layer> layers_;
};

}  // namespace

std::vector<TensorEntry> gpt2_tensors(const ModelSpec& spec) { return kTensors.table(spec); }

std::unique_ptr<Model> make_gpt2(const ModelSpec& spec, const WeightFn& src,
                                 const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Gpt2>(spec, src, options, dtype);
}

}  // namespace xai
