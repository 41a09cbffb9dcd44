// The benchmark statistics (framework/metrics/statistics.h): the Wilcoxon signed-rank test against
// scipy.stats.wilcoxon on paired samples with ties, zero differences and 8 to 200 pairs, with its
// rank sums and effect size; the mean and standard deviation against numpy; the bootstrap
// interval's properties (it holds the mean, matches the normal theory's width on many values, is
// the same for a seed and point-like for a constant); NaN handling.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "framework/common/error.h"
#include "framework/metrics/statistics.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

nlohmann::json fixture_json() {
  std::ifstream in(test::fixture("metrics/statistics.json"));
  return nlohmann::json::parse(in);
}

TEST(Statistics, WilcoxonMatchesScipy) {
  const nlohmann::json f = fixture_json();
  ASSERT_EQ(f["wilcoxon"].size(), 6u);
  for (const auto& c : f["wilcoxon"]) {
    const std::vector<double> a = c["a"], b = c["b"];
    const PairedComparison p = wilcoxon_signed_rank(a, b);
    const std::string what = c["kind"].get<std::string>() + " " + std::to_string(a.size());
    EXPECT_EQ(p.n, static_cast<int64_t>(a.size())) << what;
    EXPECT_DOUBLE_EQ(p.w_plus, c["w_plus"].get<double>()) << what;
    EXPECT_DOUBLE_EQ(p.w_minus, c["w_minus"].get<double>()) << what;
    EXPECT_DOUBLE_EQ(p.statistic, c["statistic"].get<double>()) << what;
    EXPECT_NEAR(p.p_value, c["p_value"].get<double>(), 1e-12 + 1e-9 * c["p_value"].get<double>())
        << what;
    EXPECT_NEAR(p.effect_size, c["effect_size"].get<double>(), 1e-12) << what;
  }
  // Swapping the samples flips the effect, keeps the test.
  const auto& c = f["wilcoxon"][4];
  const PairedComparison ab = wilcoxon_signed_rank(c["a"], c["b"]);
  const PairedComparison ba = wilcoxon_signed_rank(c["b"], c["a"]);
  EXPECT_DOUBLE_EQ(ab.p_value, ba.p_value);
  EXPECT_DOUBLE_EQ(ab.effect_size, -ba.effect_size);
  EXPECT_GT(ab.mean_diff, 0.05);
  // NaN pairs are left out; equal samples have no test.
  const PairedComparison nan = wilcoxon_signed_rank({1, NAN, 3, 4}, {0.5, 2, NAN, 5});
  EXPECT_EQ(nan.n, 2);
  EXPECT_DOUBLE_EQ(nan.mean_diff, (0.5 - 1) / 2);
  const PairedComparison same = wilcoxon_signed_rank({1, 2}, {1, 2});
  EXPECT_EQ(same.nonzero, 0);
  EXPECT_TRUE(std::isnan(same.p_value));
  EXPECT_THROW(wilcoxon_signed_rank({1}, {1, 2}), Error);
}

TEST(Statistics, RankCorrelationsMatchScipy) {
  const nlohmann::json f = fixture_json();
  ASSERT_EQ(f["correlation"].size(), 3u);
  for (const auto& c : f["correlation"]) {
    const std::vector<double> a = c["a"], b = c["b"];
    EXPECT_NEAR(spearman(a, b), c["spearman"].get<double>(), 1e-12) << c["kind"];
    EXPECT_NEAR(kendall_tau_b(a, b), c["kendall"].get<double>(), 1e-12) << c["kind"];
  }
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {10, 20, 30}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau_b({1, 2, 3}, {3, 2, 1}), -1.0);
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));   // a constant list
  EXPECT_TRUE(std::isnan(kendall_tau_b({1, NAN}, {2, 3})));  // one pair
}

TEST(Statistics, SummaryAndBootstrapInterval) {
  const nlohmann::json f = fixture_json();
  for (const auto& c : f["summary"]) {
    const std::vector<double> v = c["values"];
    const MetricStatistics s = metric_statistics(v);
    EXPECT_EQ(s.n, static_cast<int64_t>(v.size()));
    EXPECT_NEAR(s.mean, c["mean"].get<double>(), 1e-12);
    EXPECT_NEAR(s.std, c["std"].get<double>(), 1e-12);
    EXPECT_LE(s.ci_lo, s.mean);
    EXPECT_GE(s.ci_hi, s.mean);
  }
  // 100 values: the percentile interval is close to the normal theory's mean +- 1.96 sd / sqrt(n).
  const std::vector<double> v = f["summary"][2]["values"];
  const MetricStatistics s = metric_statistics(v);
  const double half = 1.96 * s.std / std::sqrt(static_cast<double>(v.size()));
  EXPECT_NEAR(s.ci_hi - s.ci_lo, 2 * half, 0.15 * 2 * half);
  // Seeded: the same interval again; another seed moves it a little.
  const MetricStatistics again = metric_statistics(v);
  EXPECT_EQ(again.ci_lo, s.ci_lo);
  EXPECT_EQ(again.ci_hi, s.ci_hi);
  BootstrapSettings other;
  other.seed = 9;
  const MetricStatistics moved = metric_statistics(v, 25, 75, other);
  EXPECT_NE(moved.ci_lo, s.ci_lo);
  EXPECT_NEAR(moved.ci_lo, s.ci_lo, 0.2 * half);
  // NaN is no value; a constant has a point interval; one value has no deviation.
  const MetricStatistics c = metric_statistics({0.5, NAN, 0.5, 0.5});
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(c.ci_lo, 0.5);
  EXPECT_EQ(c.ci_hi, 0.5);
  EXPECT_EQ(c.std, 0.0);
  EXPECT_TRUE(std::isnan(metric_statistics({1.0}).std));
  EXPECT_TRUE(std::isnan(metric_statistics({}).mean));
}

}  // namespace
}  // namespace xai
