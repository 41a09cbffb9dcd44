// The Model interface every explainer works through: one forward call with optional control of
// the attention (AtMan suppression, kept or replaced probabilities, a cached K/V prefix).
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/model_spec.h"

namespace xai {

// How key_factors act on the attention of a query row (reference/atman.md section 1).
enum class SuppressionMode {
  kShiftedScores,  // AtMan paper code: logit = f_k * (s_qk - min_k' s_qk') / sqrt(d)
  kLogAdditive,    // production variant: logit = s_qk / sqrt(d) + log(f_k); f_k = 0 -> -1e4
};
// Which keys the row minimum of kShiftedScores runs over.
enum class ShiftMinimum {
  kAllKeys,    // every key position, masked ones included (paper code)
  kValidKeys,  // only keys the query may attend to (production code)
};

struct AttentionControl {
  at::Tensor key_factors;  // (B, S) float factor per key column, S = past + T; undefined = none
  SuppressionMode mode = SuppressionMode::kShiftedScores;
  ShiftMinimum shift_minimum = ShiftMinimum::kAllKeys;
  // Return the attention probabilities A_l (B, H, T, S) of every controlled layer. They stay in
  // the autograd graph when grad mode is on and an input requires grad.
  bool keep_probs = false;
  // Replaces A_l after the softmax (AttAttr feeds alpha * A_l).
  std::function<at::Tensor(int layer, const at::Tensor& probs)> replace_probs;
  // Called during each backward with A_l and its gradient dL/dA_l for every controlled layer,
  // per block of query rows [row0, row0 + rows): both (B, H, rows, c) float32 over the first
  // c <= S keys (A is exactly 0 past them). Chefer weights A by dA this way without keeping a
  // (B, H, T, S) map per layer: the blockwise gradient path calls it from its backward, which
  // recomputes A; the written-out path calls it once per layer with c = S and row0 its first
  // computed row (0, or in the last layer the lowest logit position: see ForwardRequest).
  std::function<void(int layer, int64_t row0, const at::Tensor& probs,
                     const at::Tensor& grad_probs)>
      probs_grad;
  std::vector<int> layers;  // layers the control applies to; empty = all

  bool applies_to(int layer) const;
};

// Keys and values of a prefix, per layer, after rotary embedding: (B, Hkv, S, Dh) each.
struct KVCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  bool empty() const { return keys.empty(); }
  int64_t length() const { return keys.empty() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys[0].size(0); }
  // Views of the first `length` positions of every layer (no copy).
  KVCache prefix(int64_t length) const {
    KVCache c;
    for (size_t l = 0; l < keys.size(); ++l) {
      c.keys.push_back(keys[l].slice(2, 0, length));
      c.values.push_back(values[l].slice(2, 0, length));
    }
    return c;
  }
};

// How gradients flow backward through the model. The forward values never change; relevance
// methods read input x gradient (and A x dA at attention probabilities) under these rules, which
// are written as "modified gradients": a rule's backward through an op is the local relevance rule
// expressed for gradient x input (shared/reference/baselines.md sections 4 and 7).
enum class GradientRules {
  kStandard,  // plain autograd
  // AttnLRP, LXT's efficient mode: norms with their scale detached, identity rule for
  // activations (grad * phi(u)/u), uniform rule for gated products (1/2 each), and q, k, v
  // gradients divided by 4, 4, 2 (the two bilinear matmuls of attention); linear layers and
  // softmax plain.
  kAttnLrp,
  // As kAttnLrp, but no relevance flows through the attention scores: q and k are detached
  // (CP-LRP, LXT's default for GPT-2); in gated MLPs the gate is detached too, so relevance
  // flows through the up projection only (LXT's cp_gated_mlp_forward).
  kCpLrp,
  // Chefer 2021a's LRP, adapted to decoders: linear layers and the LM head use the z+ (alpha 1,
  // beta 0) rule, norms, activations and softmax the identity rule, both attention matmuls give
  // half the relevance to each operand, gated products 1/2 each, and each residual add splits its
  // relevance between the two branches in proportion to |sum of each branch's z-rule share|
  // (Chefer's renormalised Add, which keeps the total).
  kLrpAlphaBeta,
};

// Lets one forward graph serve two kinds of backward (Chefer 2021a: a plain gradient pass and a
// relevance pass over the same forward). Built under `rules`, the graph's backward follows the
// rules while relevance() is on and is the plain gradient while it is off; the switch is read
// when each backward runs, so it may be flipped between backward calls on one graph.
class GradientSwitch {
 public:
  GradientSwitch();
  // `again`: another relevance pass over this graph will follow, so the rules may keep what they
  // build in this one (the z+ rule's scales) for it; otherwise they keep nothing past the pass.
  void set_relevance(bool on, bool again = false);
  bool relevance() const;
  const at::Tensor& flag() const { return flag_; }  // 0-dim int64, read by the graph's nodes

 private:
  at::Tensor flag_;
};

class TensorGroup;  // tensor_parallel.h

// Which vocabulary rows a forward's logits hold: all of them (group null, or a group of one), or
// under tensor parallelism with ForwardRequest::vocab_parallel this rank's [begin, begin + size).
// Read them through vocab_target / vocab_logsumexp / vocab_argmax (tensor_parallel.h), which
// reduce over the group, or through the methods' target_function.
struct VocabSlice {
  const TensorGroup* group = nullptr;
  int64_t begin = 0, size = 0;
};

struct ForwardRequest {
  at::Tensor input_ids;      // (B, T) int64, or
  at::Tensor inputs_embeds;  // (B, T, D) token embeddings as embed() (embed_pixels()) returns them
  // or (B, C, H, W) float pixels, preprocessed, for an image family (ViT): [CLS] and one token per
  // patch, T = 1 + patches.
  at::Tensor pixel_values;
  // (B, S) 1 for real tokens, 0 for padding, S = past + T; undefined = all real. Positions are
  // counted over real tokens, so a left-padded row gives the same numbers as the unpadded one.
  at::Tensor attention_mask;
  // (B, T) int64 token types (BERT's segment ids: 0 for the first text, 1 for the second);
  // undefined = type 0 everywhere. Only for a family that has them (ModelSpec::type_vocab_size).
  at::Tensor token_type_ids;
  // (P) or (B, P) positions in [0, T) whose logits are needed; the LM head runs only there, and
  // the last layer's attention, output projection and MLP only from the lowest of them on (its
  // keys and values cover every row), unless that layer's probabilities are kept or replaced.
  // Undefined = every position.
  // A classifier's logits at position p are its class logits read from the token at p: [CLS] at
  // position 0 is the one it was trained to read (Encoded::readout).
  at::Tensor logit_positions;
  // A prefix of batch 1 or B; its positions come first. Causal families only (an encoder's
  // earlier positions see the later ones).
  const KVCache* past = nullptr;
  bool return_cache = false;      // fill ForwardResult::cache with past + this call's K/V
  GradientRules rules = GradientRules::kStandard;
  // With rules other than kStandard: the graph's backward follows the rules only while the switch
  // says so (see GradientSwitch). Null: always the rules.
  const GradientSwitch* rule_switch = nullptr;
  // Start at layer `start_layer` from `hidden_states` (B, T, D), the residual stream entering that
  // layer (as return_layer_inputs gives it) instead of from tokens: the layers below are skipped.
  int start_layer = 0;
  at::Tensor hidden_states;
  // >= 0: run layers start_layer .. end_layer - 1 only and return the residual stream entering
  // layer end_layer as ForwardResult::hidden_states, with no logits (logit_positions must be
  // undefined). Run under NoGradGuard, it feeds a later call at start_layer = end_layer whose
  // gradients stop there: a method that reads nothing below a layer skips their backward.
  int end_layer = -1;
  bool return_layer_inputs = false;  // fill ForwardResult::layer_inputs
  // Drop each layer's mapped weights after the layer has run (Model::release_layer): a single
  // forward over a model larger than memory (runtime.weights: streamed).
  bool release_layers = false;
  // Under tensor parallelism, return this rank's vocabulary rows of the logits (Model::vocab_slice)
  // instead of gathering all of them on every rank: for a caller that reads them through the
  // vocabulary-parallel reductions. Ignored on one rank.
  bool vocab_parallel = false;
};

struct ForwardResult {
  at::Tensor logits;  // (B, P, V) float; a classifier's (B, P, classes)
  std::vector<at::Tensor> attn_probs;  // per layer (B, H, T, S) when keep_probs, else empty
  KVCache cache;
  // Per layer l (B, T, D): the residual stream entering layer l (positions added), when asked;
  // undefined for layers below start_layer.
  std::vector<at::Tensor> layer_inputs;
  at::Tensor hidden_states;  // (B, T, D) entering layer end_layer, when asked; then no logits
};

class Model {
 public:
  virtual ~Model() = default;
  virtual ForwardResult forward(const ForwardRequest& request,
                                const AttentionControl& control = AttentionControl()) = 0;
  // Layer-0 token embeddings (B, T, D) of ids (B, T), without positions.
  virtual at::Tensor embed(const at::Tensor& ids) = 0;
  // An image family's layer-0 inputs (B, 1 + patches, D) of pixels (B, C, H, W): [CLS] and the
  // patch embeddings, without positions (what inputs_embeds takes). Other families throw.
  virtual at::Tensor embed_pixels(const at::Tensor& pixels);
  virtual const ModelSpec& spec() const = 0;
  virtual at::Device device() const = 0;
  virtual at::ScalarType dtype() const = 0;
  // Drops layer `layer`'s weights from resident memory where they are pages of a mapped
  // checkpoint (used in place: a CPU model in the checkpoint's own dtype); they are read again
  // when next used. A layer-major explainer calls it after each layer to explain a model larger
  // than memory. Returns the bytes released (0 where the weights are not mapped).
  virtual size_t release_layer(int layer) {
    (void)layer;
    return 0;
  }
  // The ranks that hold this model together (parallel.tensor), 1 for a whole model. Every rank
  // of the group must make the same forward and backward calls; each returns the whole logits,
  // kept attention probabilities and gradients of replicated inputs.
  virtual int tensor_parallel() const { return 1; }
  // The vocabulary rows of this rank's logits under ForwardRequest::vocab_parallel.
  virtual VocabSlice vocab_slice() const { return {nullptr, 0, spec().output_size()}; }
};

struct LoadOptions {
  at::Device device = at::kCPU;
  // Weights dtype: undefined = float32 on CPU, the checkpoint's own on CUDA. float16 on the CPU is
  // refused (LibTorch's CPU kernels lack half-precision matmuls; bfloat16 works there).
  c10::optional<at::ScalarType> dtype;
  // Read every page of the mapped checkpoint at load (when it is at most half the free memory);
  // off for streamed weights (runtime.weights), which are read layer by layer as they are used.
  bool prefault = true;
  // Tensor parallelism (parallel.tensor > 1): the group of ranks that hold this model together;
  // this rank binds only its part of each split tensor (tensor_parallel.h). Null: the whole model.
  // It must outlive the model.
  const TensorGroup* tensor_group = nullptr;
};

// The weights dtype a user names: "auto" (undefined: LoadOptions' default), "float32",
// "bfloat16" or "float16"; throws xai::Error naming `where` for anything else.
c10::optional<at::ScalarType> weights_dtype(const std::string& name, const std::string& where);
// The reverse for a floating dtype: "float32", "bfloat16" or "float16".
const char* weights_dtype_name(at::ScalarType dtype);

// Reads config.json, validates the checkpoint against the family's table (all names, shapes,
// dtypes) and builds the model. Unknown extra tensors are reported on stderr in one line.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options = {});

// Weights in memory by canonical name (the *ForCausalLM checkpoint names).
using TensorMap = std::map<std::string, at::Tensor>;

// Builds a model on weights in memory, checked against the family's table. Tensors already on
// the target device and dtype are used as they are, not copied: a training loop that gives its
// parameters (requires_grad) gets a model whose forward differentiates with respect to them.
std::unique_ptr<Model> build_model(const ModelSpec& spec, const TensorMap& weights,
                                   const LoadOptions& options = {});

// Fresh weights for spec, as Hugging Face initialises them: N(0, std) matrices and embeddings,
// unit norm weights, zero biases; seeded.
TensorMap init_weights(const ModelSpec& spec, double std = 0.02, uint64_t seed = 0);

// Writes a checkpoint folder that load_model (and Hugging Face) read: config.json and
// model.safetensors (float32, tied tensors written once).
void save_model(const std::string& dir, const ModelSpec& spec, const TensorMap& weights);

}  // namespace xai
