// See comparisons.h.
#include "framework/run/comparisons.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "framework/metrics/statistics.h"

namespace xai {
namespace {

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

nlohmann::ordered_json explainer_comparisons(const ResultsReader& reader,
                                             const std::vector<std::string>& models,
                                             const std::vector<std::string>& explainers) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  const auto present_models = reader.models();
  for (const std::string& model : models) {
    if (std::find(present_models.begin(), present_models.end(), model) == present_models.end()) {
      continue;
    }
    const auto present = reader.explainers(model);
    // Per explainer: metric -> sample -> value.
    std::vector<std::string> names;
    std::vector<std::map<std::string, std::map<int64_t, double>>> values;
    std::set<std::string> metrics;
    for (const std::string& x : explainers) {
      if (std::find(present.begin(), present.end(), x) == present.end()) continue;
      const ExplainerTable t = reader.explainer(model, x);
      std::map<std::string, std::map<int64_t, double>> v;
      for (const auto& [metric, column] : t.metrics) {
        for (size_t j = 0; j < t.rows() && j < column.size(); ++j) {
          if (!std::isnan(column[j])) v[metric][t.sample[j]] = column[j];
        }
        metrics.insert(metric);
      }
      names.push_back(x);
      values.push_back(std::move(v));
    }
    for (const std::string& metric : metrics) {
      for (size_t i = 0; i < names.size(); ++i) {
        for (size_t k = i + 1; k < names.size(); ++k) {
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
                         {"a", names[i]},
                         {"b", names[k]},
                         {"n", c.n},
                         {"mean_diff", number_or_null(c.mean_diff)},
                         {"statistic", number_or_null(c.statistic)},
                         {"p_value", number_or_null(c.p_value)},
                         {"effect_size", number_or_null(c.effect_size)}});
        }
      }
    }
  }
  return out;
}

}  // namespace xai
