// Faithfulness with the model in the loop: remove (or insert) the explained positions in order of
// relevance and read the target after each step.
//  - Deletion (Chefer et al. 2021a, section 4.2; Samek et al.'s MoRF/LeRF): most relevant removed
//    first ("positive", MoRF: a faithful map makes the target collapse fast, lower is better) or
//    least relevant first ("negative", LeRF: the target should survive, higher is better), in
//    steps of 1/steps of the explained positions; AOPC is the mean drop of the target's
//    log-probability over those steps.
//  - Insertion: from the input with every explained position removed, the most relevant put back
//    first (higher is better).
//  - ERASER (DeYoung et al. 2020): comprehensiveness at k% (the probability lost when the top k%
//    are removed, higher is better) and sufficiency (lost when only the top k% are kept, lower is
//    better), and their means over the k.
// The target is the probability (a classifier's class at [CLS]; a language model's target tokens'
// mean probability) and its log (mean over the target tokens). Removal is an operator of
// methods/removal.h (default drop: a token taken out of the sentence, an image patch's pixels
// set to 0, as Chefer's ViT evaluation does). A language model's last prompt token (the one
// predicting the first target) is never removed. All of a sample's inputs run batched; on a causal
// model's text the positions before the first explained one are run once and their keys and
// values reused by every batch (the prefix no input changes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/metrics/metrics.h"
#include "framework/model/model.h"
#include "framework/text/encoded.h"
#include "methods/removal.h"

namespace xai {

struct PerturbationSettings {
  bool enabled = false;
  int64_t steps = 10;       // removal fractions 0, 1/steps, ..., (steps - 1)/steps
  int64_t batch_size = 16;  // perturbed inputs per forward pass
  Removal removal = Removal::kDrop;
  std::string token = "unk";  // removal replace: unk | pad | mask | a token id
  std::vector<int64_t> eraser = {1, 5, 10, 20, 50};  // ERASER's k, % of the explained positions
};

struct PerturbationCurves {
  std::vector<double> fractions;  // (steps) the share of the explained positions removed (inserted)
  // (steps) the target's probability and whether it is still the argmax (every target token's),
  // 1 or 0, after each deletion step (positive: MoRF, negative: LeRF) and insertion step; and
  // the target's log-probability (mean over target tokens) on the same inputs.
  std::vector<double> positive_prob, negative_prob, positive_correct, negative_correct;
  std::vector<double> insertion_prob, insertion_correct;
  std::vector<double> positive_logprob, negative_logprob, insertion_logprob;
  double clean_prob = 0, clean_logprob = 0;
  // Areas under the curves (trapezoids over the fractions, divided by their span: the mean height,
  // in [0, 1]): positive lower is better, negative and insertion higher is better; the *_norm
  // ones divided by the clean probability.
  double positive_auc = 0, negative_auc = 0, positive_auc_correct = 0, negative_auc_correct = 0;
  double insertion_auc = 0, positive_auc_norm = 0, negative_auc_norm = 0, insertion_auc_norm = 0;
  // AOPC: mean over the steps (0 included) of clean log-probability minus the step's.
  double aopc_positive = 0, aopc_negative = 0;
  // ERASER at each k of the settings: clean probability minus that without the top k% (compr.)
  // and with only the top k% (suff.); k% of n positions is ceil(k n / 100), at least 1.
  std::vector<double> comprehensiveness, sufficiency;
  double comprehensiveness_mean = 0, sufficiency_mean = 0;
  int64_t forward_passes = 0;
};

// The curves of one explanation: `relevance` (T, NaN where not explained) ranks the positions
// the sample explains (ties in position order); for a sample with segments (Encoded::segments,
// an explainer's granularity) it holds one score per segment (S), and whole segments are removed
// and put back, the fractions and ERASER's k counting segments. Throws xai::Error when nothing is
// explained.
PerturbationCurves perturbation_curves(Model& model, const Encoded& sample,
                                       const std::vector<float>& relevance,
                                       const PerturbationSettings& settings);

// The metrics the run adds to a sample's from the curves, with direction and meaning.
const std::vector<MetricDef>& perturbation_metrics();

}  // namespace xai
