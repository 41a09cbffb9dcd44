#include "framework/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "framework/common/error.h"

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

TEST(Metrics, PlausibilityAtTheEvidenceSizeAndThePointingGame) {
  // Evidence {1, 3} (k = 2); the two largest scores are positions 3 and 0: one hit of two.
  const std::vector<double> y = {0, 1, 0, 1, 0};
  Plausibility p = plausibility({0.8, 0.1, 0.3, 0.9, 0.2}, y);
  EXPECT_DOUBLE_EQ(p.token_f1, 0.5);               // P = R = 1/2
  EXPECT_DOUBLE_EQ(p.token_iou, 1.0 / 3.0);        // {3} of {0, 1, 3}
  EXPECT_DOUBLE_EQ(p.pointing, 1.0);               // the top (3) is evidence
  p = plausibility({0.9, 0.7, 0.1, 0.8, 0.0}, y);  // top two 0 and 3; the top, 0, is not
  EXPECT_DOUBLE_EQ(p.token_f1, 0.5);
  EXPECT_DOUBLE_EQ(p.pointing, 0.0);
  p = plausibility({0.1, 0.9, 0.0, 0.8, 0.0}, y);  // both found
  EXPECT_DOUBLE_EQ(p.token_f1, 1.0);
  EXPECT_DOUBLE_EQ(p.token_iou, 1.0);
  // Ties go to the earlier position; no evidence scores 0.
  p = plausibility({0.5, 0.5, 0.5, 0.5, 0.5}, y);  // top two: 0 and 1
  EXPECT_DOUBLE_EQ(p.token_f1, 0.5);
  EXPECT_DOUBLE_EQ(p.pointing, 0.0);
  p = plausibility({0.5, 0.2}, {0, 0});
  EXPECT_EQ(p.token_f1, 0.0);
  EXPECT_EQ(p.pointing, 0.0);
  EXPECT_THROW(plausibility({1, 2}, {1}), Error);
}

TEST(Metrics, MismatchedSizesAreAnError) {
  EXPECT_THROW(average_precision({1}, {1, 0}), std::exception);
  EXPECT_THROW(average_recall({1}, {1, 0}), std::exception);
}

// SQuAD's normalisation, each expectation printed by the official evaluation script's
// normalize_answer (Python) for the same text.
TEST(Metrics, ExactMatchNormalisesAsSquadsScript) {
  EXPECT_EQ(normalize_answer(" The Eiffel Tower."), "eiffel tower");
  EXPECT_EQ(normalize_answer("an apple, a pear"), "apple pear");
  EXPECT_EQ(normalize_answer("  Rome\n"), "rome");
  EXPECT_EQ(normalize_answer("U.S.A."), "usa");
  EXPECT_EQ(normalize_answer("the-theory"), "thetheory");
  EXPECT_EQ(normalize_answer("Th\xC3\xA9\xC3\xA2tre  du   Soleil!"),
            "th\xC3\xA9\xC3\xA2tre du soleil");
  EXPECT_EQ(normalize_answer("\xC3\x89"
                             "COLE"),
            "\xC3\xA9"
            "cole");  // Python: "École".lower()
  EXPECT_EQ(normalize_answer("A"), "");
  EXPECT_EQ(normalize_answer("they're anthem"), "theyre anthem");
  EXPECT_EQ(exact_match(" Paris.", "paris"), 1.0);
  EXPECT_EQ(exact_match(" Paris\nQuestion:", "Paris"), 0.0);
  EXPECT_EQ(exact_match(" Paris\nQuestion:", "Paris", "\n"), 1.0);  // cut at the stop text
  EXPECT_EQ(exact_match(" Lyon", "Paris", "\n"), 0.0);
  EXPECT_STREQ(exact_match_metric().name, "exact_match");
  EXPECT_TRUE(exact_match_metric().higher_is_better);
}

}  // namespace
}  // namespace xai
