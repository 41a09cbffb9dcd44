// See statistics.h.
#include "framework/metrics/statistics.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "framework/common/error.h"
#include "framework/common/rng.h"
#include "framework/metrics/metrics.h"

namespace xai {

namespace {

// The pairs where both are numbers.
void numeric_pairs(const std::vector<double>& a, const std::vector<double>& b,
                   std::vector<double>& x, std::vector<double>& y) {
  XAI_CHECK(a.size() == b.size(), "internal: a correlation of ", a.size(), " and ", b.size(),
            " values");
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) continue;
    x.push_back(a[i]);
    y.push_back(b[i]);
  }
}

// Ranks 1..n, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = (static_cast<double>(i + j) / 2) + 1;
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> x, y;
  numeric_pairs(a, b, x, y);
  if (x.size() < 2) return NAN;
  const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n;
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

double kendall_tau_b(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> x, y;
  numeric_pairs(a, b, x, y);
  if (x.size() < 2) return NAN;
  // O(n^2) over the pairs: concordant minus discordant, over the tie-corrected pair counts.
  double concordant = 0, discordant = 0, tied_x = 0, tied_y = 0, pairs = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = i + 1; j < x.size(); ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      pairs += 1;
      if (dx == 0) tied_x += 1;
      if (dy == 0) tied_y += 1;
      if (dx == 0 || dy == 0) continue;
      (dx * dy > 0 ? concordant : discordant) += 1;
    }
  }
  const double denom = std::sqrt((pairs - tied_x) * (pairs - tied_y));
  return denom > 0 ? (concordant - discordant) / denom : NAN;
}

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
  // Ranks of |d|, ties sharing their average rank; the tie correction from the tie groups (equal
  // ranks, as scipy's find_repeats counts them).
  std::vector<double> magnitude(d.size());
  for (size_t i = 0; i < d.size(); ++i) magnitude[i] = std::fabs(d[i]);
  const std::vector<double> rank = average_ranks(magnitude);
  std::map<double, double> groups;
  for (double r : rank) groups[r] += 1;
  double ties = 0;  // sum over tie groups of t (t^2 - 1)
  for (const auto& [r, t] : groups) ties += t * (t * t - 1);
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
