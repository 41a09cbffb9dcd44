// The run's paired comparisons: for a model, every metric and every pair of its explainers on
// the samples both have a value for, the Wilcoxon signed-rank test of the first's per-sample
// values against the second's (framework/metrics/statistics.h), for results.json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xai {

// One explainer's per-sample metrics on a model (ExplainerTable's sample and metrics columns).
struct ExplainerMetrics {
  std::string name;
  std::vector<int64_t> sample;
  std::map<std::string, std::vector<double>> metrics;  // NaN = no value for that row
};

// Appends to `out` {model, metric, a, b, n, mean_diff, statistic, p_value, effect_size} for every
// metric (by name) and pair (a before b, in the given order); a pair with no common value is left
// out.
void compare_explainers(const std::string& model, const std::vector<ExplainerMetrics>& explainers,
                        nlohmann::ordered_json& out);

}  // namespace xai
