// ViT (ViTModel, ViTForImageClassification): an image cut into patches, each projected to one
// token (the patch convolution as a matmul), a [CLS] token before them, learned positions,
// pre-norm blocks with bidirectional attention, a final LayerNorm and a classifier read at [CLS].
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"

namespace xai {
namespace {

struct VitLayer {
  at::Tensor ln1_w, ln1_b;                  // layernorm_before (D)
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b;  // (D, D), (D) when qkv_bias
  at::Tensor o_w, o_b;                      // attention.output.dense
  at::Tensor ln2_w, ln2_b;                  // layernorm_after (D)
  at::Tensor up_w, up_b;                    // intermediate.dense (F, D)
  at::Tensor down_w, down_b;                // output.dense (D, F)
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, Q = Dim::kQ, C = Dim::kLabels,
              kVector = Dim::kNone;

bool classifier(const ModelSpec& s) { return s.classifier(); }
bool qkv_bias(const ModelSpec& s) { return s.qkv_bias; }
std::vector<int64_t> cls_shape(const ModelSpec& s) { return {1, 1, s.hidden_size}; }
std::vector<int64_t> positions_shape(const ModelSpec& s) {
  return {1, s.num_patches() + 1, s.hidden_size};
}
std::vector<int64_t> patch_shape(const ModelSpec& s) {
  return {s.hidden_size, s.num_channels, s.patch_size, s.patch_size};
}

const FamilyTensors<VitLayer> kTensors = {
    {{"vit.embeddings.cls_token", kVector, kVector, &GlobalWeights::cls, nullptr, nullptr,
      cls_shape},
     {"vit.embeddings.position_embeddings", kVector, kVector, &GlobalWeights::positions, nullptr,
      nullptr, positions_shape},
     {"vit.embeddings.patch_embeddings.projection.weight", kVector, kVector,
      &GlobalWeights::patch_w, nullptr, nullptr, patch_shape},
     {"vit.embeddings.patch_embeddings.projection.bias", D, kVector, &GlobalWeights::patch_b}},
    "vit.encoder.layer.",
    {{"layernorm_before.weight", D, kVector, &VitLayer::ln1_w},
     {"layernorm_before.bias", D, kVector, &VitLayer::ln1_b},
     {"attention.attention.query.weight", Q, D, &VitLayer::q_w},
     {"attention.attention.query.bias", Q, kVector, &VitLayer::q_b, qkv_bias},
     {"attention.attention.key.weight", Q, D, &VitLayer::k_w},
     {"attention.attention.key.bias", Q, kVector, &VitLayer::k_b, qkv_bias},
     {"attention.attention.value.weight", Q, D, &VitLayer::v_w},
     {"attention.attention.value.bias", Q, kVector, &VitLayer::v_b, qkv_bias},
     {"attention.output.dense.weight", D, Q, &VitLayer::o_w},
     {"attention.output.dense.bias", D, kVector, &VitLayer::o_b},
     {"layernorm_after.weight", D, kVector, &VitLayer::ln2_w},
     {"layernorm_after.bias", D, kVector, &VitLayer::ln2_b},
     {"intermediate.dense.weight", F, D, &VitLayer::up_w},
     {"intermediate.dense.bias", F, kVector, &VitLayer::up_b},
     {"output.dense.weight", D, F, &VitLayer::down_w},
     {"output.dense.bias", D, kVector, &VitLayer::down_b}},
    {{"vit.layernorm.weight", D, kVector, &GlobalWeights::norm_w},
     {"vit.layernorm.bias", D, kVector, &GlobalWeights::norm_b},
     {"classifier.weight", C, D, &GlobalWeights::head, classifier},
     {"classifier.bias", C, kVector, &GlobalWeights::head_bias, classifier}},
};

class Vit final : public TransformerModel {
 public:
  Vit(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options, at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(kTensors, src, layers_);
  }

  at::Tensor embed(const at::Tensor&) override {
    throw Error(str_cat(spec_.source, ": vit reads images (pixel_values), not token ids"));
  }

  at::Tensor embed_pixels(const at::Tensor& pixels) override {
    const int64_t Cn = spec_.num_channels, S = spec_.image_size, P = spec_.patch_size;
    XAI_CHECK(
        pixels.dim() == 4 && pixels.size(1) == Cn && pixels.size(2) == S && pixels.size(3) == S,
        "vit: pixel_values must be (B, ", Cn, ", ", S, ", ", S, "), got ", pixels.sizes(),
        " (HINT: the image processor resizes to the model's image_size)");
    const int64_t B = pixels.size(0), G = S / P;
    // The patch convolution (stride = kernel = P) as one matmul over flattened patches, in the
    // row-major patch order of the convolution's output.
    at::Tensor x = pixels.to(device_, dtype_)
                       .view({B, Cn, G, P, G, P})
                       .permute({0, 2, 4, 1, 3, 5})
                       .reshape({B, G * G, Cn * P * P});
    at::Tensor patches =
        at::linear(x, globals_.patch_w.view({spec_.hidden_size, Cn * P * P}), globals_.patch_b);
    return at::cat({globals_.cls.expand({B, 1, spec_.hidden_size}), patches}, 1);
  }

 protected:
  at::Tensor add_positions(const at::Tensor& x, const ForwardState& st) override {
    const at::Tensor table = globals_.positions.view({-1, spec_.hidden_size});
    return x + at::embedding(table, st.positions);
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const VitLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Dh = spec_.head_dim;
    auto heads_of = [&](const at::Tensor& t) { return t.view({B, T, H, Dh}).transpose(1, 2); };
    // Under tensor parallelism this rank's heads and MLP columns, as in bert.cpp.
    const at::Tensor h = enter(layer_norm(st, x, L.ln1_w, L.ln1_b, spec_.norm_eps));
    at::Tensor q = heads_of(linear(st, h, L.q_w, L.q_b, false));
    at::Tensor k = heads_of(linear(st, h, L.k_w, L.k_b, false)).contiguous();
    at::Tensor v = heads_of(linear(st, h, L.v_w, L.v_b, false)).contiguous();
    const int64_t r0 = rows_from(l, st);
    at::Tensor a = attend(l, q.slice(2, r0), k, v, 1.0 / std::sqrt(static_cast<double>(Dh)), st);
    at::Tensor y = residual(st, x.slice(1, r0), row_linear(st, a, L.o_w, L.o_b, false));
    const at::Tensor h2 = enter(layer_norm(st, y, L.ln2_w, L.ln2_b, spec_.norm_eps));
    return add_mlp(st, y, h2, [&](const at::Tensor& r) {
      return row_linear(st, act(st, linear(st, r, L.up_w, L.up_b, false)), L.down_w, L.down_b,
                        false);
    });
  }

  at::Tensor final_norm(const at::Tensor& x, const ForwardState& st) override {
    return layer_norm(st, x, globals_.norm_w, globals_.norm_b, spec_.norm_eps);
  }

  at::Tensor head(const at::Tensor& h, ForwardState& st) override {
    XAI_CHECK(spec_.classifier(), spec_.source,
              ": vit without an image-classification head (architecture '", spec_.architecture,
              "') gives hidden states, not logits (HINT: a ViTForImageClassification checkpoint, "
              "or ForwardRequest::end_layer)");
    return TransformerModel::head(h, st);
  }

 private:
  std::vector<VitLayer> layers_;
};

}  // namespace

std::vector<TensorEntry> vit_tensors(const ModelSpec& spec) { return kTensors.table(spec); }

std::unique_ptr<Model> make_vit(const ModelSpec& spec, const WeightFn& src,
                                const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Vit>(spec, src, options, dtype);
}

}  // namespace xai
