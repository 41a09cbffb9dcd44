// See comparisons.h.
#include "framework/run/comparisons.h"

#include <cmath>
#include <set>

#include "framework/metrics/statistics.h"

namespace xai {
namespace {

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// metric -> sample -> value, numbers only.
std::map<std::string, std::map<int64_t, double>> by_sample(const ExplainerMetrics& e) {
  std::map<std::string, std::map<int64_t, double>> v;
  for (const auto& [metric, column] : e.metrics) {
    for (size_t j = 0; j < e.sample.size() && j < column.size(); ++j) {
      if (!std::isnan(column[j])) v[metric][e.sample[j]] = column[j];
    }
  }
  return v;
}

}  // namespace

void compare_explainers(const std::string& model, const std::vector<ExplainerMetrics>& explainers,
                        nlohmann::ordered_json& out) {
  std::vector<std::map<std::string, std::map<int64_t, double>>> values;
  std::set<std::string> metrics;
  for (const ExplainerMetrics& e : explainers) {
    values.push_back(by_sample(e));
    for (const auto& [metric, column] : e.metrics) metrics.insert(metric);
  }
  for (const std::string& metric : metrics) {
    for (size_t i = 0; i < explainers.size(); ++i) {
      for (size_t k = i + 1; k < explainers.size(); ++k) {
        const auto a = values[i].find(metric), b = values[k].find(metric);
        if (a == values[i].end() || b == values[k].end()) continue;
        std::vector<double> x, y;
        for (const auto& [sample, value] : a->second) {
          const auto other = b->second.find(sample);
          if (other == b->second.end()) continue;
          x.push_back(value);
          y.push_back(other->second);
        }
        if (x.empty()) continue;
        const PairedComparison c = wilcoxon_signed_rank(x, y);
        out.push_back({{"model", model},
                       {"metric", metric},
                       {"a", explainers[i].name},
                       {"b", explainers[k].name},
                       {"n", c.n},
                       {"mean_diff", number_or_null(c.mean_diff)},
                       {"statistic", number_or_null(c.statistic)},
                       {"p_value", number_or_null(c.p_value)},
                       {"effect_size", number_or_null(c.effect_size)}});
      }
    }
  }
}

}  // namespace xai
