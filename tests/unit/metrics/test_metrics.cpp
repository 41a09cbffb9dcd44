#include "framework/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace xai {
namespace {

TEST(Metrics, PrecisionIsTheShareOfRelevanceOnTheEvidence) {
  EXPECT_NEAR(average_precision({1, 3, 0, 4}, {0, 1, 0, 1}), 7.0 / 8.0, 1e-6);
  EXPECT_NEAR(average_precision({0, 0}, {1, 0}), 0.0, 1e-12);
  EXPECT_NEAR(average_precision({2, 2}, {1, 1}), 1.0, 1e-6);
}

TEST(Metrics, RecallIsMaxNormalisedRelevanceAveragedOverTheEvidence) {
  // x / max = [0.25, 0.75, 0, 1]; over evidence {1, 3}: (0.75 + 1) / 2
  EXPECT_NEAR(average_recall({1, 3, 0, 4}, {0, 1, 0, 1}), 0.875, 1e-6);
  EXPECT_EQ(average_recall({0, 0, 0}, {0, 1, 0}), 0.0);
  // The maximum on the evidence gives AR = 1 regardless of scale.
  EXPECT_NEAR(average_recall({0.001, 5e-4}, {1, 0}), 1.0, 1e-6);
}

TEST(Metrics, PercentileInterpolatesLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4, 10], [25, 72, 75]) = [2.0, 3.88, 4.0]
  EXPECT_NEAR(percentile({10, 1, 3, 2, 4}, 25), 2.0, 1e-12);
  EXPECT_NEAR(percentile({10, 1, 3, 2, 4}, 72), 3.88, 1e-12);
  EXPECT_NEAR(percentile({10, 1, 3, 2, 4}, 75), 4.0, 1e-12);
  EXPECT_NEAR(percentile({7}, 50), 7.0, 1e-12);
}

TEST(Metrics, InterquartileMeanKeepsTheBandInclusive) {
  std::vector<double> v = {10, 1, 3, 2, 4};
  EXPECT_NEAR(interquartile_mean(v), (2 + 3 + 4) / 3.0, 1e-12);      // [P25, P75] = [2, 4]
  EXPECT_NEAR(interquartile_mean(v, 25, 72), (2 + 3) / 2.0, 1e-12);  // [2, 3.88]
  EXPECT_TRUE(std::isnan(interquartile_mean({})));
  EXPECT_NEAR(interquartile_mean({NAN, 5.0}), 5.0, 1e-12);
}

TEST(Metrics, MismatchedSizesAreAnError) {
  EXPECT_THROW(average_precision({1}, {1, 0}), std::exception);
  EXPECT_THROW(average_recall({1}, {1, 0}), std::exception);
}

}  // namespace
}  // namespace xai
