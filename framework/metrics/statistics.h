// Statistics of a benchmark's per-sample metric values, so that a reader can tell a real
// difference between explainers from noise: per (model, explainer, metric) the mean, the
// interquartile mean, the standard deviation and a seeded bootstrap confidence interval of the
// mean; per pair of explainers on the same samples, the Wilcoxon signed-rank test and its effect
// size. The run's summary (results.json) carries both.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace xai {

struct MetricStatistics {
  int64_t n = 0;  // values that are numbers (NaN: no value for that sample)
  double mean = NAN, iq_mean = NAN;
  double std = NAN;                 // sample standard deviation (n - 1); NaN below 2 values
  double ci_lo = NAN, ci_hi = NAN;  // the bootstrap 95% interval of the mean
};

struct BootstrapSettings {
  int64_t resamples = 1000;
  uint64_t seed = 0;
};

// NaN values are left out. The interval: the 2.5th and 97.5th percentiles (linear interpolation
// between order statistics, numpy's default) of the means of `resamples` samples of n values drawn
// with replacement, the draws from a splitmix64 stream seeded by `seed` (the same numbers on every
// machine and LibTorch version).
MetricStatistics metric_statistics(const std::vector<double>& values, double iq_lo = 25,
                                   double iq_hi = 75, const BootstrapSettings& bootstrap = {});

struct PairedComparison {
  int64_t n = 0;                       // pairs where both values are numbers
  int64_t nonzero = 0;                 // pairs with a difference: what the test ranks
  double mean_diff = NAN;              // mean of a - b over the n pairs
  double w_plus = NAN, w_minus = NAN;  // rank sums of the positive and the negative differences
  double statistic = NAN;              // min(W+, W-)
  // Two-sided, from the normal approximation with the tie correction (scipy.stats.wilcoxon with
  // zero_method "wilcox", correction False, method "approx"); NaN without a nonzero difference.
  double p_value = NAN;
  // The matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), in [-1, 1]: > 0 when a
  // tends to be larger.
  double effect_size = NAN;
};

// Rank correlations of two score lists over the same positions (equal sizes, NaN pairs left out):
// Spearman's rho (Pearson's correlation of the ranks, ties given their average rank) and Kendall's
// tau-b (tie-corrected), as scipy.stats.spearmanr and kendalltau compute them. NaN with fewer
// than 2 pairs or when either list is constant.
double spearman(const std::vector<double>& a, const std::vector<double>& b);
double kendall_tau_b(const std::vector<double>& a, const std::vector<double>& b);

// The Wilcoxon signed-rank test of a against b, paired by index (equal sizes; pairs with a NaN
// are left out; zero differences are dropped, Wilcoxon's way).
PairedComparison wilcoxon_signed_rank(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace xai
