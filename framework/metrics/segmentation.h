// Segmentation metrics of an image explanation against its object mask, as Chefer et al.
// (2021a, section 4.1, ImageNet-segmentation) compute them: the patch map upsampled bilinearly to
// the model's input (torch.nn.functional.interpolate, align_corners=False), min-max normalised,
// thresholded at its mean; pixel accuracy and the mean IoU of the two classes (background,
// object) of that binary map (intersection / (eps + union) each, as their code), and the average
// precision of the continuous map (sklearn's average_precision_score over both classes' scores, 1 -
// map for the background). Per image, with the image's pixel counts; over a dataset, the run's
// summary pools the counts as Chefer's code does (pooled_segmentation) and averages the AP.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/metrics/metrics.h"

namespace xai {

// One image's pixel counts of the thresholded map against the mask (Chefer's batch_pix_accuracy and
// batch_intersection_union): pixels right, pixels, and per class (0 background, 1 object) the
// intersection and the union. Stored per row as the extra "segmentation_counts" (6 values in that
// order) so that a summary can pool them.
struct SegmentationCounts {
  double correct = 0, pixels = 0;
  double inter[2] = {0, 0}, uni[2] = {0, 0};

  std::vector<float> to_extra() const;  // {correct, pixels, inter 0, inter 1, union 0, union 1}
  // Throws xai::Error unless `v` holds 6 values.
  static SegmentationCounts from_extra(const std::vector<float>& v);
};
constexpr const char* kSegmentationCounts = "segmentation_counts";

// `grid` (g x g, row-major, NaN counts as 0) and `mask` (s x s values in [0, 1], the object
// where >= 0.5). Returns {"seg_acc", "seg_miou", "seg_ap"}, each in [0, 1]; `counts` (when given)
// receives the image's pixel counts.
std::map<std::string, double> segmentation_metrics(const std::vector<double>& grid, int64_t g,
                                                   const std::vector<float>& mask, int64_t s,
                                                   SegmentationCounts* counts = nullptr);

// The same from the map already upsampled to s x s (what segmentation_metrics does after
// upsample_bilinear).
std::map<std::string, double> segmentation_metrics_of_map(std::vector<double> map,
                                                          const std::vector<float>& mask, int64_t s,
                                                          SegmentationCounts* counts = nullptr);

// Chefer's dataset figures from every image's counts: pixel accuracy sum(correct) / (eps +
// sum(pixels)) and the mean over both classes of sum(inter) / (eps + sum(union)), eps =
// spacing(1) as their code. {NaN, NaN} for no image.
std::pair<double, double> pooled_segmentation(const std::vector<SegmentationCounts>& images);

// torch's bilinear interpolation (align_corners=False) of a g x g map to s x s.
std::vector<double> upsample_bilinear(const std::vector<double>& grid, int64_t g, int64_t s);

// sklearn.metrics.average_precision_score for binary labels: sum over the distinct score
// thresholds (descending) of (recall_n - recall_{n-1}) * precision_n. 0 when no label is 1.
double average_precision_score(const std::vector<double>& scores, const std::vector<int>& labels);

const std::vector<MetricDef>& segmentation_metric_defs();

}  // namespace xai
