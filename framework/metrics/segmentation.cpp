// See segmentation.h.
#include "framework/metrics/segmentation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/common/error.h"

namespace xai {

std::vector<double> upsample_bilinear(const std::vector<double>& grid, int64_t g, int64_t s) {
  XAI_CHECK(g > 0 && s > 0 && static_cast<int64_t>(grid.size()) == g * g, "internal: upsample of ",
            grid.size(), " values as ", g, "x", g);
  const double scale = static_cast<double>(g) / static_cast<double>(s);
  // One axis: torch's source index and weight (negative sources clamp to 0).
  auto src = [&](int64_t d, int64_t& i0, int64_t& i1, double& f) {
    double x = (static_cast<double>(d) + 0.5) * scale - 0.5;
    if (x < 0) x = 0;
    i0 = std::min<int64_t>(static_cast<int64_t>(x), g - 1);
    i1 = std::min<int64_t>(i0 + 1, g - 1);
    f = x - static_cast<double>(i0);
  };
  std::vector<double> out(static_cast<size_t>(s * s));
  for (int64_t y = 0; y < s; ++y) {
    int64_t y0, y1;
    double fy;
    src(y, y0, y1, fy);
    for (int64_t x = 0; x < s; ++x) {
      int64_t x0, x1;
      double fx;
      src(x, x0, x1, fx);
      auto at = [&](int64_t r, int64_t c) { return grid[static_cast<size_t>(r * g + c)]; };
      out[static_cast<size_t>(y * s + x)] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                                            fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
    }
  }
  return out;
}

double average_precision_score(const std::vector<double>& scores, const std::vector<int>& labels) {
  XAI_CHECK(scores.size() == labels.size(), "internal: ", scores.size(), " scores for ",
            labels.size(), " labels");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  const double positives = static_cast<double>(std::count(labels.begin(), labels.end(), 1));
  if (positives == 0) return 0.0;
  double ap = 0, tp = 0, fp = 0, last_recall = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (labels[order[i]] == 1 ? tp : fp) += 1;
    // A threshold is complete when the next score differs (tied scores form one step).
    if (i + 1 < order.size() && scores[order[i + 1]] == scores[order[i]]) continue;
    const double recall = tp / positives, precision = tp / (tp + fp);
    ap += (recall - last_recall) * precision;
    last_recall = recall;
  }
  return ap;
}

std::map<std::string, double> segmentation_metrics(const std::vector<double>& grid_in, int64_t g,
                                                   const std::vector<float>& mask, int64_t s,
                                                   SegmentationCounts* counts) {
  std::vector<double> grid = grid_in;
  for (double& v : grid)
    if (std::isnan(v)) v = 0;
  return segmentation_metrics_of_map(upsample_bilinear(grid, g, s), mask, s, counts);
}

std::vector<float> SegmentationCounts::to_extra() const {
  return {static_cast<float>(correct),  static_cast<float>(pixels), static_cast<float>(inter[0]),
          static_cast<float>(inter[1]), static_cast<float>(uni[0]), static_cast<float>(uni[1])};
}

SegmentationCounts SegmentationCounts::from_extra(const std::vector<float>& v) {
  XAI_CHECK(v.size() == 6, kSegmentationCounts, ": ", v.size(), " values, not 6");
  SegmentationCounts c;
  c.correct = v[0];
  c.pixels = v[1];
  c.inter[0] = v[2];
  c.inter[1] = v[3];
  c.uni[0] = v[4];
  c.uni[1] = v[5];
  return c;
}

std::pair<double, double> pooled_segmentation(const std::vector<SegmentationCounts>& images) {
  if (images.empty()) return {NAN, NAN};
  SegmentationCounts t;
  for (const SegmentationCounts& c : images) {
    t.correct += c.correct;
    t.pixels += c.pixels;
    for (int k = 0; k < 2; ++k) {
      t.inter[k] += c.inter[k];
      t.uni[k] += c.uni[k];
    }
  }
  const double eps = std::nextafter(1.0, 2.0) - 1.0;  // numpy's spacing(1)
  return {t.correct / (eps + t.pixels),
          (t.inter[0] / (eps + t.uni[0]) + t.inter[1] / (eps + t.uni[1])) / 2};
}

std::map<std::string, double> segmentation_metrics_of_map(std::vector<double> r,
                                                          const std::vector<float>& mask, int64_t s,
                                                          SegmentationCounts* counts) {
  XAI_CHECK(static_cast<int64_t>(mask.size()) == s * s && r.size() == mask.size(),
            "internal: a mask of ", mask.size(), " values and a map of ", r.size(), " for ", s, "x",
            s);
  const auto [lo, hi] = std::minmax_element(r.begin(), r.end());
  const double mn = *lo, range = *hi - *lo;
  for (double& v : r) v = range > 0 ? (v - mn) / range : 0.0;
  const double threshold = std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(r.size());
  int64_t correct = 0, inter[2] = {0, 0}, uni[2] = {0, 0};
  std::vector<double> scores;
  std::vector<int> labels;
  scores.reserve(2 * r.size());
  labels.reserve(2 * r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    const int truth = mask[i] >= 0.5f ? 1 : 0;
    const int pred = r[i] > threshold ? 1 : 0;
    correct += pred == truth;
    for (int c = 0; c < 2; ++c) {
      inter[c] += (pred == c && truth == c);
      uni[c] += (pred == c || truth == c);
    }
  }
  // Chefer's get_ap_scores: both classes' channels flattened together (background first).
  for (size_t i = 0; i < r.size(); ++i) {
    scores.push_back(1 - r[i]);
    labels.push_back(mask[i] >= 0.5f ? 0 : 1);
  }
  for (size_t i = 0; i < r.size(); ++i) {
    scores.push_back(r[i]);
    labels.push_back(mask[i] >= 0.5f ? 1 : 0);
  }
  // Chefer's IoU: intersection / (spacing(1) + union) per class, both classes averaged.
  double iou = 0;
  for (int c = 0; c < 2; ++c) {
    iou += static_cast<double>(inter[c]) /
           (std::nextafter(1.0, 2.0) - 1.0 + static_cast<double>(uni[c]));
  }
  if (counts != nullptr) {
    counts->correct = static_cast<double>(correct);
    counts->pixels = static_cast<double>(r.size());
    for (int c = 0; c < 2; ++c) {
      counts->inter[c] = static_cast<double>(inter[c]);
      counts->uni[c] = static_cast<double>(uni[c]);
    }
  }
  return {{"seg_acc", static_cast<double>(correct) / static_cast<double>(r.size())},
          {"seg_miou", iou / 2},
          {"seg_ap", average_precision_score(scores, labels)}};
}

const std::vector<MetricDef>& segmentation_metric_defs() {
  static const std::vector<MetricDef> kDefs = {
      {"seg_acc", true,
       "pixel accuracy of the map (upsampled, min-max normalised, above its mean = object) "
       "against the mask"},
      {"seg_miou", true, "mean IoU of background and object of that binary map"},
      {"seg_ap", true,
       "average precision of the continuous map as a per-pixel score for the mask (both classes, "
       "as Chefer's get_ap_scores)"},
  };
  return kDefs;
}

}  // namespace xai
