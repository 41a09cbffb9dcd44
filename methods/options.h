// Options every baseline explainer shares, applied the same way by each (so methods differ only in
// what they compute): the function of the logits that is explained, how an embedding-sized
// attribution becomes one score per token, normalisation, and positions left out.
// shared/reference/baselines.md sections 1, 6 and 12.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "framework/model/model.h"
#include "framework/text/encoded.h"

namespace xai {

class ConfigNode;

enum class TargetFunction {
  kLogit,    // logits[p, y] (Chefer, AtMan's baselines, LXT)
  kLogProb,  // log_softmax(logits[p])[y] (captum LLMAttribution)
  kProb,     // softmax(logits[p])[y] (inseq, AttAttr)
};
enum class EmbeddingAggregation {
  kSum,     // signed sum over d (captum, LXT)
  kL2,      // L2 norm over d (inseq), unsigned
  kAbsSum,  // sum of |.| over d (AtMan's IxG)
};
enum class Normalization {
  kNone,
  kL1,      // divide by the sum of |scores| over the scored positions (inseq)
  kMaxAbs,  // divide by max |score| (LXT display, inseq rescale)
};

// "logit" | "logprob" | "prob".
const char* name_of(TargetFunction f);
// "none" | "l1" | "max_abs", and the YAML key `normalize` read with `current` as its default.
const char* name_of(Normalization n);
Normalization read_normalization(const ConfigNode& node, Normalization current);

struct CommonOptions {
  TargetFunction target = TargetFunction::kLogit;
  EmbeddingAggregation embedding = EmbeddingAggregation::kSum;
  Normalization normalize = Normalization::kNone;
  bool exclude_bos = false;         // zero the score of a leading special token (BOS)
  bool exclude_predicting = false;  // zero the score of the position that predicts the target
  // Over targets, for the (T) relevance the metrics read: "abs" sum_t |s|, "square" sum_t s^2,
  // "sum" (signed).
  std::string target_aggregation = "abs";
  std::string preset;  // the parity preset applied first, "" for none

  // Reads target, embedding_aggregation, normalize, exclude_bos, exclude_predicting and
  // target_aggregation from `node`; the current values are the defaults (a method sets its own
  // defaults, then a preset's, before calling this).
  void read(const ConfigNode& node);
  // The same keys as a JSON object text fragment (no braces), for params_json.
  std::string json_fields() const;
};

// (P) values of the target function at (P, V) logits for target ids (P); for (P, 2) [target,
// foil] pairs (a contrast: sample_targets) the target's value minus the foil's. `vocab`: the rows the
// logits hold (Model::vocab_slice; under tensor parallelism with ForwardRequest::vocab_parallel,
// this rank's part, reduced over its group); the default is the whole vocabulary.
at::Tensor target_function(const at::Tensor& logits, const at::Tensor& targets, TargetFunction f,
                           const VocabSlice& vocab = {});

// (..., T, D) attribution -> (..., T) scores.
at::Tensor aggregate_embedding(const at::Tensor& attribution, EmbeddingAggregation how);

// Applies exclusions and normalisation to per-target scores (n_targets, T) in place of a copy:
// for target t, positions after its predicting position P - 1 + t are 0, exclusions are 0, and
// the rest is normalised over the positions that may carry a score.
at::Tensor finish_scores(const at::Tensor& per_target, const Encoded& sample,
                         const CommonOptions& options);

}  // namespace xai
