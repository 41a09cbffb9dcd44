// Evaluation metrics of an explanation against ground-truth evidence, exactly as the AtMan
// evaluation code computes them (shared/reference/atman.md section 5.1), with their metadata.
#pragma once

#include <string>
#include <vector>

namespace xai {

// x: relevance (>= 0) of the explained positions; y: evidence mask of the same positions.
// AP = sum(x*y) / (sum(x) + 1e-7): the share of the relevance mass on the evidence.
double average_precision(const std::vector<double>& x, const std::vector<double>& y);
// AR = sum((x / max x) * y) / (sum(y) + 1e-7): the max-normalised relevance averaged over the
// evidence positions. 0 when every x is 0.
double average_recall(const std::vector<double>& x, const std::vector<double>& y);

// Plausibility against the evidence beside AP/AR (ERASER's token-level agreement and the pointing
// game), on the same x and y: the k positions of largest x (ties by position), k = the number of
// evidence positions, as the predicted rationale. token_f1 = 2 P R / (P + R) of those against the
// evidence (P = R here, since k = |evidence|), token_iou = |top-k n evidence| / |top-k u
// evidence|, pointing = 1 when the position of largest x is evidence, else 0. All 0 when there is
// no evidence.
struct Plausibility {
  double token_f1 = 0, token_iou = 0, pointing = 0;
};
Plausibility plausibility(const std::vector<double>& x, const std::vector<double>& y);

// Percentile with linear interpolation between closest ranks (numpy's default).
double percentile(std::vector<double> values, double q);
double mean(const std::vector<double>& values);
// Mean of the values v with percentile(lo) <= v <= percentile(hi) (the "IQ" means; the
// reference code uses lo = 25, hi = 72, nominal 25-75). NaN values are ignored; NaN when empty.
double interquartile_mean(const std::vector<double>& values, double lo = 25, double hi = 75);

struct MetricDef {
  const char* name;
  bool higher_is_better;
  const char* description;
};
// The per-sample metrics the runner stores for every sample with evidence ("ap", "ar",
// "token_f1", "token_iou", "pointing") and their metadata.
const std::vector<MetricDef>& sample_metrics();

// SQuAD's exact match of a generated answer with the dataset's (dataset.target: generate): 1 when
// they are equal after SQuAD's normalisation (lower case, ASCII punctuation removed, the articles
// a, an, the removed, whitespace collapsed), else 0. `prediction` is cut at the first `stop` when
// `stop` is not empty (the stop text ends the answer and is no part of it).
double exact_match(const std::string& prediction, const std::string& answer,
                   const std::string& stop = "");
// The metric "exact_match" (higher is better) with its meaning, stored on every explanation of a
// sample whose target the model generated.
MetricDef exact_match_metric();
// SQuAD's answer normalisation, as exact_match applies it.
std::string normalize_answer(const std::string& text);

}  // namespace xai
