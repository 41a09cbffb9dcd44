// The perturbation test of Chefer et al. (2021a, section 4.2), with the model in the loop: remove
// the explained positions in order of relevance, most relevant first ("positive" perturbation,
// MoRF: a faithful map makes the target collapse fast, lower is better) or least relevant first
// ("negative", LeRF: the target should survive, higher is better), in steps of 1/steps of them,
// and read the target after each step. The curves' areas are metrics of `xai run`
// (metrics.perturbation).
//
// Removal: an image patch's pixels are set to 0 in the model's (normalised) input, as Chefer's
// ViT evaluation does; a token is dropped: hidden from attention and the later positions renumbered
// (the attention-mask form over real tokens), so a sentence reads as if the token were not there.
// A language model's last prompt token (the one predicting the first target) is never removed:
// its own query reads it, so the attention-mask form could not hide it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/metrics/metrics.h"
#include "framework/model/model.h"
#include "framework/text/encoded.h"

namespace xai {

struct PerturbationSettings {
  bool enabled = false;
  int64_t steps = 10;       // removal fractions 0, 1/steps, ..., (steps - 1)/steps
  int64_t batch_size = 16;  // perturbed inputs per forward pass
};

struct PerturbationCurves {
  std::vector<double> fractions;  // (steps) the share of the explained positions removed
  // (steps) the target's probability (a classifier's class at [CLS]; a language model's target
  // tokens' mean probability) and whether it is still the argmax (every target token's), 1 or 0.
  std::vector<double> positive_prob, negative_prob, positive_correct, negative_correct;
  // Areas under the curves (trapezoids over the fractions, divided by their span: the mean height,
  // in [0, 1]): positive lower is better, negative higher is better.
  double positive_auc = 0, negative_auc = 0, positive_auc_correct = 0, negative_auc_correct = 0;
  int64_t forward_passes = 0;
};

// The curves of one explanation: `relevance` (T, NaN where not explained) ranks the positions
// the sample explains (ties in position order). Throws xai::Error when nothing is explained.
PerturbationCurves perturbation_curves(Model& model, const Encoded& sample,
                                       const std::vector<float>& relevance,
                                       const PerturbationSettings& settings);

// The metrics the run adds to a sample's from the curves, with direction and meaning.
const std::vector<MetricDef>& perturbation_metrics();

}  // namespace xai
