// BERT and RoBERTa encoders (BertModel, BertForSequenceClassification, and the RoBERTa
// equivalents): word + learned position + token type embeddings under a LayerNorm, post-norm
// blocks (LayerNorm after each residual add), bidirectional attention over the real tokens, and
// a classifier head read at [CLS]: tanh(W1 h + b1) then W2 (BERT's pooler and classifier,
// RoBERTa's classifier.dense and out_proj: the same computation under other names).
#include <cmath>

#include "framework/common/error.h"
#include "framework/model/transformer.h"

namespace xai {
namespace {

struct BertLayer {
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b;  // (D, D), (D)
  at::Tensor o_w, o_b;                      // (D, D), (D)
  at::Tensor ln1_w, ln1_b;                  // (D): after the attention's residual add
  at::Tensor up_w, up_b;                    // (F, D), (F)
  at::Tensor down_w, down_b;                // (D, F), (D)
  at::Tensor ln2_w, ln2_b;                  // (D): after the MLP's residual add
};

constexpr Dim D = Dim::kHidden, F = Dim::kInter, V = Dim::kVocab, P = Dim::kPositions,
              Q = Dim::kQ, Y = Dim::kTypes, C = Dim::kLabels, kVector = Dim::kNone;

bool classifier(const ModelSpec& s) { return s.classifier(); }

const std::vector<TensorSlot<BertLayer>> kLayer = {
    {"attention.self.query.weight", Q, D, &BertLayer::q_w},
    {"attention.self.query.bias", Q, kVector, &BertLayer::q_b},
    {"attention.self.key.weight", Q, D, &BertLayer::k_w},
    {"attention.self.key.bias", Q, kVector, &BertLayer::k_b},
    {"attention.self.value.weight", Q, D, &BertLayer::v_w},
    {"attention.self.value.bias", Q, kVector, &BertLayer::v_b},
    {"attention.output.dense.weight", D, Q, &BertLayer::o_w},
    {"attention.output.dense.bias", D, kVector, &BertLayer::o_b},
    {"attention.output.LayerNorm.weight", D, kVector, &BertLayer::ln1_w},
    {"attention.output.LayerNorm.bias", D, kVector, &BertLayer::ln1_b},
    {"intermediate.dense.weight", F, D, &BertLayer::up_w},
    {"intermediate.dense.bias", F, kVector, &BertLayer::up_b},
    {"output.dense.weight", D, F, &BertLayer::down_w},
    {"output.dense.bias", D, kVector, &BertLayer::down_b},
    {"output.LayerNorm.weight", D, kVector, &BertLayer::ln2_w},
    {"output.LayerNorm.bias", D, kVector, &BertLayer::ln2_b},
};

#define XAI_EMBEDDINGS(p)                                                              \
  {{p "embeddings.word_embeddings.weight", V, D, &GlobalWeights::embed},                \
   {p "embeddings.position_embeddings.weight", P, D, &GlobalWeights::positions},        \
   {p "embeddings.token_type_embeddings.weight", Y, D, &GlobalWeights::types},          \
   {p "embeddings.LayerNorm.weight", D, kVector, &GlobalWeights::norm_w},               \
   {p "embeddings.LayerNorm.bias", D, kVector, &GlobalWeights::norm_b}}

const FamilyTensors<BertLayer> kBert = {
    XAI_EMBEDDINGS("bert."),
    "bert.encoder.layer.",
    kLayer,
    {{"bert.pooler.dense.weight", D, D, &GlobalWeights::pool_w, classifier},
     {"bert.pooler.dense.bias", D, kVector, &GlobalWeights::pool_b, classifier},
     {"classifier.weight", C, D, &GlobalWeights::head, classifier},
     {"classifier.bias", C, kVector, &GlobalWeights::head_bias, classifier}},
};

const FamilyTensors<BertLayer> kRoberta = {
    XAI_EMBEDDINGS("roberta."),
    "roberta.encoder.layer.",
    kLayer,
    {{"classifier.dense.weight", D, D, &GlobalWeights::pool_w, classifier},
     {"classifier.dense.bias", D, kVector, &GlobalWeights::pool_b, classifier},
     {"classifier.out_proj.weight", C, D, &GlobalWeights::head, classifier},
     {"classifier.out_proj.bias", C, kVector, &GlobalWeights::head_bias, classifier}},
};

#undef XAI_EMBEDDINGS

const FamilyTensors<BertLayer>& tensors_of(const ModelSpec& spec) {
  return spec.family == Family::kRoberta ? kRoberta : kBert;
}

class Bert final : public TransformerModel {
 public:
  Bert(const ModelSpec& spec, const WeightFn& src, const LoadOptions& options, at::ScalarType dtype)
      : TransformerModel(spec, options, dtype) {
    bind_weights(tensors_of(spec_), src, layers_);
  }

 protected:
  at::Tensor add_positions(const at::Tensor& x, const ForwardState& st) override {
    at::Tensor pos = st.positions + spec_.position_offset;
    at::Tensor e = x + at::embedding(globals_.positions, pos);  // (B, T, D)
    e = st.token_types.defined() ? e + at::embedding(globals_.types, st.token_types)
                                 : e + globals_.types[0];
    return layer_norm(st, e, globals_.norm_w, globals_.norm_b, spec_.norm_eps);
  }

  at::Tensor block(int l, const at::Tensor& x, ForwardState& st) override {
    const BertLayer& L = layers_[l];
    const int64_t B = st.B, T = st.T, H = heads(), Dh = spec_.head_dim;
    auto heads_of = [&](const at::Tensor& t) {  // (B, T, H Dh) -> (B, H, T, Dh)
      return t.view({B, T, H, Dh}).transpose(1, 2);
    };
    // Under tensor parallelism this rank's heads and MLP columns (enter: the column-parallel
    // layers' input), summed over the group after the row-parallel output and down projections.
    const at::Tensor xin = enter(x);
    at::Tensor q = heads_of(linear(st, xin, L.q_w, L.q_b, false));
    at::Tensor k = heads_of(linear(st, xin, L.k_w, L.k_b, false)).contiguous();
    at::Tensor v = heads_of(linear(st, xin, L.v_w, L.v_b, false)).contiguous();
    const int64_t r0 = rows_from(l, st);
    at::Tensor a = attend(l, q.slice(2, r0), k, v, 1.0 / std::sqrt(static_cast<double>(Dh)), st);
    at::Tensor y =
        layer_norm(st, residual(st, x.slice(1, r0), row_linear(st, a, L.o_w, L.o_b, false)),
                   L.ln1_w, L.ln1_b, spec_.norm_eps);
    at::Tensor z = add_mlp(st, y, enter(y), [&](const at::Tensor& r) {
      return row_linear(st, act(st, linear(st, r, L.up_w, L.up_b, false)), L.down_w, L.down_b,
                        false);
    });
    return layer_norm(st, z, L.ln2_w, L.ln2_b, spec_.norm_eps);
  }

  // Post-norm: the last block's output is already normalised.
  at::Tensor final_norm(const at::Tensor& x, const ForwardState&) override { return x; }

  at::Tensor head(const at::Tensor& h, ForwardState& st) override {
    XAI_CHECK(spec_.classifier(), spec_.source, ": ", spec_.model_type,
              " without a sequence-classification head (architecture '", spec_.architecture,
              "') gives hidden states, not logits (HINT: a *ForSequenceClassification checkpoint, "
              "or ForwardRequest::end_layer)");
    at::Tensor pooled = act(st, linear(st, h, globals_.pool_w, globals_.pool_b, false), "tanh");
    return linear(st, pooled, globals_.head, globals_.head_bias, false);
  }

 private:
  std::vector<BertLayer> layers_;
};

}  // namespace

std::vector<TensorEntry> bert_tensors(const ModelSpec& spec) {
  return tensors_of(spec).table(spec);
}

std::unique_ptr<Model> make_bert(const ModelSpec& spec, const WeightFn& src,
                                 const LoadOptions& options, at::ScalarType dtype) {
  return std::make_unique<Bert>(spec, src, options, dtype);
}

}  // namespace xai
