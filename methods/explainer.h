// The explainer interface: every method turns (model, encoded sample) into per-target scores and
// an aggregated relevance per position, and reports what it cost. Methods see the model only
// through framework/model/model.h and the sample only through Encoded.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/memory.h"
#include "framework/model/model.h"
#include "framework/text/encoded.h"
#include "framework/text/segments.h"

namespace xai {

class Communicator;
class ConfigNode;

struct Cost {
  double seconds = 0;
  int64_t forward_passes = 0;  // model forward calls
  int64_t sequences = 0;       // rows run through the model, over all calls
  int64_t backward_passes = 0;
  int64_t peak_bytes = 0;  // filled by the runner (it owns the measurement)
};

struct Explanation {
  // (n_targets, T) raw signed scores in the method's own convention (documented per method);
  // 0 at positions the method did not score (keep_explained then makes every position outside
  // the explained set NaN, whatever the method put there).
  at::Tensor per_target;
  // (T) aggregated, non-negative: what the metrics read.
  at::Tensor relevance;
  Cost cost;
  // Method-specific extra outputs (e.g. AttAttr head importance), stored beside the maps.
  std::map<std::string, at::Tensor> extras;
};

class DeviceCollectives;  // framework/dist/device_collectives.h

struct ExplainContext {
  // Progress within one sample: (done, total) in the method's own units (e.g. perturbations).
  std::function<void(int64_t done, int64_t total)> progress;
  // Perturbation parallelism (parallel.perturbation): the ranks of one group run the same sample
  // and each computes a share of the perturbation batches (batch b on member b % size). When
  // `perturbation_group` is set, its rank and size are the share and the method sums the shares
  // over it, so every member returns the whole result; without it, `perturbation_rank` of
  // `perturbation_ranks` selects the share and the method returns that share alone (tests).
  // Methods that do not split (splits_perturbations() false) ignore all three.
  Communicator* perturbation_group = nullptr;
  // runtime.collectives: nccl: the same group over NCCL on the ranks' GPUs; the shares' sums go
  // through it (control messages, such as a member's error, stay on perturbation_group).
  DeviceCollectives* perturbation_device_group = nullptr;
  int perturbation_rank = 0;
  int perturbation_ranks = 1;
  // runtime.weights: streamed (a model larger than memory): methods that can (AtMan; attention
  // and rollout, one forward with ForwardRequest::release_layers) run
  // layer-major, every perturbation batch through layer l before any through layer l + 1, holding
  // at most layer_major_bytes of batches' residual streams at once, and call
  // Model::release_layer after each layer. Same numbers as the batch-major order.
  bool layer_major = false;
  int64_t layer_major_bytes = int64_t{1} << 30;
};

// The memory planner's question to a method (framework/run/memory_plan.h): the model's units for
// the run's longest sample and how many targets it has.
struct MemoryQuery {
  ActivationBasis basis;
  int64_t targets = 1;
};

// What one explanation needs beyond the weights: `fixed` bytes plus `per_unit` bytes for each unit
// of the method's batch knob (`knob`, "" when it has none).
struct MemoryNeed {
  double fixed = 0;
  double per_unit = 0;
  std::string knob;         // e.g. "batch_size"
  int64_t units = 1;        // the knob as configured
  int64_t max_units = 1;    // no use in more (IG: its steps)
  bool knob_given = false;  // set by the user: the planner refuses rather than lowers it
  double bytes(int64_t u) const { return fixed + per_unit * static_cast<double>(u); }
  double bytes() const { return bytes(units); }
};

// A need of the form c_0 + sum_i c_i x unit_i, the units of ActivationBasis taken over one layer
// (a forward-only method holds one layer's work at a time) or over every layer (a backward keeps
// each layer's tensors). Each method's coefficients were measured (docs/performance.md).
struct MemoryCoefficients {
  double hidden = 0, mlp = 0, qkv = 0;  // per layer, x layers when `all_layers`
  double hidden_once = 0;               // T x D once (not per layer)
  double forward = 0, graph = 0;        // the same, in the family's layer units
  double scores = 0;                    // one layer's attention map (a transient)
  double scores_all = 0;                // every layer's map (kept)
  double unfused_scores = 0;            // x inference_block: attention not fused (GPU, bf16)
  double square = 0;                    // (T, T) float32 matrices
  double block = 0;                     // blockwise-attention score blocks of one call (once)
  double kv_all = 0;                    // every layer's keys and values
  double logit_rows = 0;                // x targets
  double megabytes = 0;                 // constant
  bool all_layers = false;
  // Resident memory per byte of live tensors under the basis' heap threshold (the C library's
  // heap keeps freed blocks in holes), fitted per method; blocks above it are mapped and returned.
  double heap = 1;
};
// Bytes for one unit (a batch row) of the coefficients' per-row terms, plus the others once (keys
// and values, logits, constants, and the score blocks over the whole batch); `rows` is the batch
// the tensors are made for, which sizes the blocks and decides which tensors fall under the heap
// threshold.
double memory_bytes(const MemoryQuery& q, const MemoryCoefficients& c, int64_t rows = 1);
// A method's need from its coefficients: hidden, mlp, qkv, forward, graph, scores and scores_all
// and square per unit of the knob (a batch row); block (at the configured batch), kv_all,
// logit_rows and megabytes once; without a knob, one unit.
MemoryNeed batched_need(const MemoryQuery& q, const MemoryCoefficients& c,
                        const std::string& knob = "", int64_t units = 1, bool given = false);

// One inference forward of the query's sample (the default need, and the planner's yardstick).
MemoryNeed inference_forward_need(const MemoryQuery& q);
// One forward and one backward to the input embeddings (saliency, input x gradient).
MemoryNeed one_backward_need(const MemoryQuery& q);

class Explainer {
 public:
  virtual ~Explainer() = default;
  virtual Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) = 0;
  // The method's resolved parameters as a JSON object text, stored with every result.
  virtual std::string params_json() const = 0;
  // Whether explain() splits its work over ExplainContext's perturbation group (AtMan). With
  // parallel.perturbation > 1 the other methods run on each group's first rank only.
  virtual bool splits_perturbations() const { return false; }
  // Throws xai::Error naming the parameter when the method, as configured, cannot run on
  // `model` at all (e.g. a layer it names is not one of the model's). The runner asks once per
  // model, says so in one line and skips the method there; explain() checks the same.
  virtual void check_model(const Model& model) const { (void)model; }
  // The settings that change what the scores mean, in a few words, for `explain`'s header and the
  // summary table's row ("kappa 0.7 (correlated), square over targets"); "" when none stand out.
  virtual std::string settings() const { return ""; }
  // What the sign of a per-target score means, one sentence, for `explain`; "" when the method's
  // per-target scores are not signed in a way a user reads (attention weights).
  virtual std::string score_sign() const { return ""; }
  // What one explanation of the query's sample needs beyond the weights (the memory planner).
  // The default is one inference forward.
  virtual MemoryNeed memory_need(const MemoryQuery& q) const;
  // Whether explain() honours ExplainContext::layer_major (weights streamed layer by layer).
  virtual bool runs_layer_major() const { return false; }
  // The planner's choice of the knob memory_need names (a batch that fits the budget).
  virtual void set_batch_units(int64_t units) { (void)units; }
  // Whether explain() perturbs each of Encoded::segments as one (AtMan: one suppression per
  // segment; occlusion: one removal), its token maps then giving every token of a segment the
  // segment's score. The other methods score tokens, and a segment's score is their sum
  // (add_segment_scores).
  virtual bool perturbs_segments() const { return false; }

  // The unit explained (the `granularity` key every method accepts, set by make_explainer, or
  // `explain --granularity`): token by default.
  const Granularity& granularity() const { return granularity_; }
  void set_granularity(Granularity g) { granularity_ = std::move(g); }
  // params_json() with "granularity" added when it is not token (so results made before it
  // existed keep their parameters): what results and `explain --json` store.
  std::string parameters_json() const;
  // settings() with the granularity when it is not token, for headers and the summary's rows.
  std::string settings_line() const;

 private:
  Granularity granularity_;
};

// Segments in results: Explanation::extras named kSegmentsExtra, kSegmentRelevanceExtra and
// kSegmentPerTargetExtra (framework/text/segments.h), set by add_segment_scores.
bool is_segment_extra(const std::string& name);

// `sample` as `explainer` explains it: with Encoded::segments of its granularity over `prompt`
// (the sample's text). `level` (optional) gets the level used (auto's choice). Throws xai::Error
// as make_segments does (an image, an over-long prompt).
Encoded with_segments(const Explainer& explainer, const std::string& prompt, const Encoded& sample,
                      std::string* level = nullptr);

// After keep_explained, for a sample with segments: the segments' scores as the three extras
// above. `perturbed` (Explainer::perturbs_segments): read at each segment's first position (every
// token of it holds the segment's score); else summed over its tokens (relevance and per-target
// scores alike). Nothing for a sample without segments.
void add_segment_scores(Explanation& ex, const Encoded& sample, bool perturbed);

// For a sample with a contrast (Encoded::foil_ids): the extra kFoilIdsExtra (n_targets), each
// target step's foil id (exact in float32 below 2^24), stored with the explanation so a reader
// knows what the scores were contrasted with. Nothing otherwise.
inline constexpr const char* kFoilIdsExtra = "foil_ids";
void add_contrast(Explanation& ex, const Encoded& sample);

// Explainers by name ("atman", ...), built from their YAML mapping. Unknown parameters are an
// error naming the key and the nearest valid one; an unknown method names the known ones.
std::unique_ptr<Explainer> make_explainer(const std::string& method, const ConfigNode& params);
std::vector<std::string> explainer_methods();

// Why an explanation cannot be stored: "" when its relevance and per-target scores at the
// `explained` positions ((T) bool; undefined = all) and its extras are all finite, else which of
// them holds how many NaN or infinite values. A non-finite score is a failure of that sample,
// recorded with this reason, never a number in the results.
std::string non_finite_reason(const Explanation& ex, const at::Tensor& explained = at::Tensor());

// The one rule for every explainer, applied by whoever stores or shows an explanation (the
// runner, `xai explain`): a position outside the sample's explained set (explain_mask 0: special
// tokens unless asked for, prompt tokens outside the explain spans, target positions) gets no
// score, NaN in `relevance` and `per_target`. Returns non_finite_reason over the explained
// positions (and then leaves `ex` as it was), "" when the explanation can be stored.
std::string keep_explained(Explanation& ex, const Encoded& sample);

// ---- helpers shared by the methods
// ----------------------------------------------------------------

// (n) int64 on the CPU: the positions whose logits give each target (Encoded::logit_position):
// the predicting positions of next-token targets, a classification sample's readout ([CLS]).
at::Tensor logit_positions(const Encoded& sample);
// How many leading positions can reach target t's logits: up to its predicting position in a
// causal model (later ones are unseen), every position in an encoder.
int64_t visible_positions(const Model& model, const Encoded& sample, int64_t t);

// The sample's targets on `device`: ids (n), or with a contrast (Encoded::foil_ids) (n, 2)
// [target, foil] pairs, for which target_function and target_cross_entropy give the target's
// value minus the foil's. Every method that reads the targets takes them from here.
at::Tensor sample_targets(const Encoded& sample, at::Device device);
// `targets` (n) or (n, 2) repeated `times` over its rows (a batch of perturbed inputs).
at::Tensor repeat_targets(const at::Tensor& targets, int64_t times);

// (P, V) logits at the positions predicting target tokens (P rows), target ids (P) ->
// cross-entropy per row, float64 accumulation for the log-sum-exp; (P, 2) [target, foil] pairs
// -> the target's cross-entropy minus the foil's. `vocab` as for target_function.
at::Tensor target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets,
                                const VocabSlice& vocab = {});

// (n_targets, T) -> (T): "square" sum_t x^2 (the AtMan reference), "abs" sum_t |x|, "sum" sum_t x
// (signed; not clamped).
at::Tensor aggregate_targets(const at::Tensor& per_target, const std::string& how);

// A layer index of `method`'s parameter `key` against a model of num_layers layers: returns it
// (counted from the end when negative and from_end) or throws naming the parameter and the range.
int model_layer(const char* method, const char* key, int64_t layer, int64_t num_layers,
                bool from_end);

// What the model reads for a sample, on its device: the ids (1, T), or an image's pixels
// (1, C, H, W), and a text pair's token types (1, T) (undefined otherwise). Every request that
// starts from the sample goes through it, so a method never builds its input by hand.
struct SampleInput {
  at::Tensor ids, types, pixels;
  // Puts the input in `req`, repeated over `batch` rows, with its token types. `from` > 0: only
  // the tokens from there on (after a cached prefix of that length; text only).
  void set(ForwardRequest& req, int64_t batch = 1, int64_t from = 0) const;
  // The token types alone, for a request given inputs_embeds (`batch` rows).
  void set_types(ForwardRequest& req, int64_t batch = 1) const;
  // The layer-0 inputs (1, T, D), without positions: Model::embed of the ids, or embed_pixels of
  // an image (what inputs_embeds takes).
  at::Tensor embeddings(Model& model) const;
};
SampleInput sample_input(const Model& model, const Encoded& sample);

// Sets the pixels of the patch at `position` of an image sample ([CLS] is 0, the patches follow
// row-major) to 0 in `image` (C, H, W), in place: how the perturbation test and occlusion remove
// a patch (Chefer's ViT removal: the patch token keeps its place).
void zero_patch(at::Tensor image, const Encoded& sample, int64_t position);

// Sets `req` to start at layer `layer` for the sample and returns what enters that layer as a leaf
// that requires grad (1, T, D): the embeddings for layer 0, else the residual stream from a run of
// the layers below without a graph. A backward from the outputs then stops at that layer.
at::Tensor start_with_grad_at(Model& model, const SampleInput& input, int layer,
                              ForwardRequest& req);

}  // namespace xai
