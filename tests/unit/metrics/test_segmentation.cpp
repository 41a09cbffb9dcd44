// Segmentation metrics (framework/metrics/segmentation.h) against Chefer et al.'s definitions run
// through PyTorch and sklearn (tests/reference/segmentation_fixtures.py): the bilinear upsampling,
// pixel accuracy, mean IoU and average precision, on grids of 3 to 14 cells, with ties, sparse
// maps and soft masks; each image's pixel counts (their batch_pix_accuracy and
// batch_intersection_union) and the dataset figures pooled from them as their evaluation loop
// does; and sklearn's AP on hand-computed cases.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "framework/common/error.h"
#include "framework/metrics/segmentation.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

TEST(Segmentation, MatchesTheReferenceOnEveryCase) {
  std::ifstream in(test::fixture("metrics/segmentation.json"));
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const nlohmann::json& cases = fixture.at("cases");
  ASSERT_GE(cases.size(), 13u);
  std::vector<SegmentationCounts> images;
  for (const auto& c : cases) {
    const int64_t g = c["g"], s = c["s"];
    const std::vector<double> grid = c["grid"];
    const std::vector<float> mask = c["mask"];
    const std::vector<double> up_want = c["upsampled"];
    const std::string what =
        c["kind"].get<std::string>() + " " + std::to_string(g) + "->" + std::to_string(s);
    const std::vector<double> up = upsample_bilinear(grid, g, s);
    ASSERT_EQ(up.size(), up_want.size()) << what;
    double worst = 0;
    for (size_t i = 0; i < up.size(); ++i) worst = std::max(worst, std::abs(up[i] - up_want[i]));
    EXPECT_LT(worst, 1e-12) << what;
    // From the reference's own upsampled map: the metrics exactly.
    SegmentationCounts counts;
    const auto exact = segmentation_metrics_of_map(up_want, mask, s, &counts);
    const std::vector<float> want_counts = c["counts"];
    EXPECT_EQ(counts.to_extra(), want_counts) << what;
    images.push_back(SegmentationCounts::from_extra(counts.to_extra()));
    EXPECT_NEAR(exact.at("seg_acc"), c["seg_acc"].get<double>(), 1e-12) << what;
    EXPECT_NEAR(exact.at("seg_miou"), c["seg_miou"].get<double>(), 1e-12) << what;
    EXPECT_NEAR(exact.at("seg_ap"), c["seg_ap"].get<double>(), 1e-12) << what;
    // From the grid: the last bit of an upsampled value (torch's kernel orders its arithmetic
    // differently) can split or join a tie of the AP's thresholds (1 - r of one pixel against r
    // of another); on these maps, built with many exact ties, that moves AP by < 1e-2.
    const auto m = segmentation_metrics(grid, g, mask, s);
    EXPECT_NEAR(m.at("seg_acc"), c["seg_acc"].get<double>(), 1e-12) << what;
    EXPECT_NEAR(m.at("seg_miou"), c["seg_miou"].get<double>(), 1e-12) << what;
    EXPECT_NEAR(m.at("seg_ap"), c["seg_ap"].get<double>(), 1e-2) << what;
  }
  // Chefer's dataset figures: the counts pooled, not the per-image figures averaged (they differ
  // here: the images have 100 to 3136 pixels).
  const auto [acc, miou] = pooled_segmentation(images);
  EXPECT_NEAR(acc, fixture["pooled"]["seg_acc"].get<double>(), 1e-12);
  EXPECT_NEAR(miou, fixture["pooled"]["seg_miou"].get<double>(), 1e-12);
  double mean_acc = 0;
  for (const auto& c : cases) mean_acc += c["seg_acc"].get<double>() / cases.size();
  EXPECT_GT(std::abs(acc - mean_acc), 1e-3);
  EXPECT_TRUE(std::isnan(pooled_segmentation({}).first));
  EXPECT_THROW(SegmentationCounts::from_extra({1, 2, 3}), Error);
}

TEST(Segmentation, AveragePrecisionAsSklearn) {
  // sklearn: labels [0 0 1 1], scores [0.1 0.4 0.35 0.8] -> 0.8333...
  EXPECT_NEAR(average_precision_score({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 5.0 / 6.0, 1e-12);
  // A tie across a positive and a negative is one threshold: precision 1/2 at recall 1.
  EXPECT_NEAR(average_precision_score({0.5, 0.5}, {1, 0}), 0.5, 1e-12);
  EXPECT_EQ(average_precision_score({0.3, 0.2}, {0, 0}), 0.0);
  // A 2x2 map hot in its last cell, upsampled to 4x4, is above its mean (0.25) exactly on the
  // bottom-right quadrant (axis weights 0, 1/4, 3/4, 1): a mask of that quadrant is found whole.
  std::vector<float> mask(16, 0.0f);
  mask[10] = mask[11] = mask[14] = mask[15] = 1.0f;
  const auto m = segmentation_metrics({0, 0, 0, 1}, 2, mask, 4);
  EXPECT_EQ(m.at("seg_acc"), 1.0);
  EXPECT_NEAR(m.at("seg_miou"), 1.0, 1e-12);
  EXPECT_EQ(m.at("seg_ap"), 1.0);
  EXPECT_THROW(segmentation_metrics({0, 0, 0}, 2, mask, 4), Error);
}

}  // namespace
}  // namespace xai
