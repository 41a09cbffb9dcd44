// Segmentation metrics of an image explanation against its object mask, as Chefer et al.
// (2021a, section 4.1, ImageNet-segmentation) compute them: the patch map upsampled bilinearly to
// the model's input (torch.nn.functional.interpolate, align_corners=False), min-max normalised,
// thresholded at its mean; pixel accuracy and the mean IoU of the two classes (background,
// object) of that binary map (intersection / (eps + union) each, as their code), and the average
// precision of the continuous map (sklearn's average_precision_score over both classes' scores, 1 -
// map for the background). Per image; the run reports their means (Chefer's code accumulates pixel
// counts over the dataset instead).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/metrics/metrics.h"

namespace xai {

// `grid` (g x g, row-major, NaN counts as 0) and `mask` (s x s values in [0, 1], the object
// where >= 0.5). Returns {"seg_acc", "seg_miou", "seg_ap"}, each in [0, 1].
std::map<std::string, double> segmentation_metrics(const std::vector<double>& grid, int64_t g,
                                                   const std::vector<float>& mask, int64_t s);

// The same from the map already upsampled to s x s (what segmentation_metrics does after
// upsample_bilinear).
std::map<std::string, double> segmentation_metrics_of_map(std::vector<double> map,
                                                          const std::vector<float>& mask,
                                                          int64_t s);

// torch's bilinear interpolation (align_corners=False) of a g x g map to s x s.
std::vector<double> upsample_bilinear(const std::vector<double>& grid, int64_t g, int64_t s);

// sklearn.metrics.average_precision_score for binary labels: sum over the distinct score
// thresholds (descending) of (recall_n - recall_{n-1}) * precision_n. 0 when no label is 1.
double average_precision_score(const std::vector<double>& scores, const std::vector<int>& labels);

const std::vector<MetricDef>& segmentation_metric_defs();

}  // namespace xai
