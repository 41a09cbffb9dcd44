// The run's paired comparisons: for each model, every metric and every pair of its explainers on
// the samples both have a value for, the Wilcoxon signed-rank test of the first's per-sample
// values against the second's (framework/metrics/statistics.h), for results.json.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "framework/io/results_reader.h"

namespace xai {

// [{model, metric, a, b, n, mean_diff, statistic, p_value, effect_size}], models and explainers
// in the given order (pairs a before b), metrics by name. A pair with no common value is left out.
nlohmann::ordered_json explainer_comparisons(const ResultsReader& reader,
                                             const std::vector<std::string>& models,
                                             const std::vector<std::string>& explainers);

}  // namespace xai
