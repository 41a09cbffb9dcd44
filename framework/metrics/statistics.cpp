// See statistics.h.
#include "framework/metrics/statistics.h"

#include <algorithm>
#include <numeric>

#include "framework/common/error.h"
#include "framework/common/rng.h"
#include "framework/metrics/metrics.h"

namespace xai {

MetricStatistics metric_statistics(const std::vector<double>& values, double iq_lo, double iq_hi,
                                   const BootstrapSettings& bootstrap) {
  std::vector<double> v;
  for (double x : values)
    if (!std::isnan(x)) v.push_back(x);
  MetricStatistics s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  const double n = static_cast<double>(v.size());
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  s.iq_mean = interquartile_mean(v, iq_lo, iq_hi);
  if (v.size() >= 2) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (n - 1));
  }
  XAI_CHECK(bootstrap.resamples >= 1, "internal: bootstrap resamples ", bootstrap.resamples);
  SplitMix64 rng(bootstrap.seed);
  std::vector<double> means(static_cast<size_t>(bootstrap.resamples));
  for (double& m : means) {
    double sum = 0;
    for (size_t k = 0; k < v.size(); ++k) sum += v[rng.below(v.size())];
    m = sum / n;
  }
  s.ci_lo = percentile(means, 2.5);  // numpy's default, linear between order statistics
  s.ci_hi = percentile(means, 97.5);
  return s;
}

PairedComparison wilcoxon_signed_rank(const std::vector<double>& a, const std::vector<double>& b) {
  XAI_CHECK(a.size() == b.size(), "internal: a paired test of ", a.size(), " and ", b.size(),
            " values");
  PairedComparison c;
  std::vector<double> d;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) continue;
    ++c.n;
    sum += a[i] - b[i];
    if (a[i] != b[i]) d.push_back(a[i] - b[i]);
  }
  if (c.n > 0) c.mean_diff = sum / static_cast<double>(c.n);
  c.nonzero = static_cast<int64_t>(d.size());
  if (d.empty()) return c;
  // Ranks of |d|, ties sharing their average rank; the tie correction from the tie groups.
  std::vector<size_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return std::fabs(d[x]) < std::fabs(d[y]); });
  std::vector<double> rank(d.size());
  double ties = 0;  // sum over tie groups of t (t^2 - 1)
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && std::fabs(d[order[j + 1]]) == std::fabs(d[order[i]])) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = avg;
    const double t = static_cast<double>(j - i + 1);
    if (t > 1) ties += t * (t * t - 1);
    i = j + 1;
  }
  c.w_plus = c.w_minus = 0;
  for (size_t i = 0; i < d.size(); ++i) (d[i] > 0 ? c.w_plus : c.w_minus) += rank[i];
  c.statistic = std::min(c.w_plus, c.w_minus);
  const double m = static_cast<double>(d.size());
  const double mn = m * (m + 1) / 4;
  const double se = std::sqrt((m * (m + 1) * (2 * m + 1) - 0.5 * ties) / 24);
  c.p_value = se > 0 ? std::erfc(std::fabs((c.statistic - mn) / se) / std::sqrt(2.0)) : 1.0;
  c.effect_size = (c.w_plus - c.w_minus) / (c.w_plus + c.w_minus);
  return c;
}

}  // namespace xai
