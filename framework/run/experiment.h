// The config-driven run: experiment YAML -> models x dataset x explainers -> metrics -> per-rank
// HDF5 shard with a journal -> results.h5, results.json and a summary table.
#pragma once

#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framework/metrics/statistics.h"
#include "framework/io/results.h"

namespace xai {

class Communicator;

struct RunOptions {
  std::vector<std::string> overrides;  // --set key=value, applied to the YAML
  bool resume = false;  // continue a run in the same output folder, skipping finished samples
  // With resume: go on although a model's files or an explainer's parameters differ from those
  // the shards were written with (the results then record what differed). Without it such a
  // resume is refused, naming each change.
  bool allow_changed = false;
  std::ostream* log = &std::cerr;  // progress and notices (rank 0 shows the run's progress)
  // The ranks of this run (not owned); null = one process. Every rank calls run_experiment with
  // the same config and options; each computes its share of the samples into its own shard, and
  // rank 0 merges at the end.
  Communicator* comm = nullptr;
};

// One line of the summary: a (model, explainer) pair over the whole run.
struct SummaryRow {
  std::string model, explainer;
  int64_t samples = 0;   // explained
  int64_t failures = 0;  // samples this explainer (or the whole sample) failed on
  double map = 0, map_iq = 0, mar = 0, mar_iq = 0;  // NaN when the dataset has no evidence
  double seconds_per_sample = 0;
  double peak_mb = 0;                              // largest peak extra memory of one explanation
  double forward_passes = 0, backward_passes = 0;  // per sample, mean
  // Mean |convergence_delta| over samples and targets, for explainers that store that extra
  // (integrated_gradients); NaN otherwise.
  double mean_abs_convergence_delta = NAN;
  // Samples flagged by the explainer's convergence_flag extra (integrated_gradients: |delta| over
  // delta_tolerance of |f(x) - f(x0)|); -1 when it stores no such flag.
  int64_t convergence_flagged = -1;
  // metrics.perturbation: the means of pos_auc, neg_auc, pos_acc, neg_acc (NaN when not run).
  double pos_auc = NAN, neg_auc = NAN, pos_acc = NAN, neg_acc = NAN;
  // Images with masks, as Chefer's evaluation reports a dataset: pixel accuracy and mIoU from the
  // pixel counts pooled over the images (per-image means where rows hold no counts), the mean
  // AP; and the per-image means of accuracy and mIoU beside them (NaN when there are none).
  double seg_acc = NAN, seg_miou = NAN, seg_ap = NAN;
  double seg_acc_mean = NAN, seg_miou_mean = NAN;
  // Every per-sample metric's statistics (framework/metrics/statistics.h): n, mean, IQ mean,
  // standard deviation and the bootstrap 95% interval of the mean (mAP's is in the table).
  std::map<std::string, MetricStatistics> statistics;
  std::string settings;  // the explainer's settings in a few words ("kappa 0.7 (correlated), ...")
};

struct RunResult {
  std::string out_dir, results_h5, results_json;
  std::vector<SummaryRow> rows;  // on rank 0 only
  int64_t samples_done_now = 0;  // processed in this invocation, by all ranks
  int64_t samples_skipped = 0;   // already finished (resume)
  int64_t failures = 0;          // this invocation, all ranks
  bool interrupted = false;      // stopped by SIGINT/SIGTERM after flushing (on any rank)
  int64_t missing = 0;           // planned samples absent from results.h5 (0 when complete)
  int rank = 0, world_size = 1;
};

// What merge_run made.
struct MergedRun {
  std::string results_h5, results_json;
  std::vector<SummaryRow> rows;
  int64_t samples = 0, failures = 0, duplicates = 0;
  std::vector<std::string> conflicts;  // attribute values that differ between shards
  // Against the plan, when one was given: planned (model, sample) keys, how many are neither a
  // sample row nor a whole-sample failure in results.h5, and one of them ("model/id").
  int64_t planned = -1, missing = 0;
  std::string missing_example;
};

// Throws xai::Error for configuration problems before any work starts; a sample or explainer
// that fails during the run is recorded and the run goes on.
RunResult run_experiment(const std::string& config_path, const RunOptions& options = {});

// Checks an experiment as `xai run` would before any work (strict keys, explainer parameters,
// model folders, the dataset), without running it; throws the same one-line xai::Error.
// `source_name` names the text in errors. Used by `xai submit` and `xai sweep` so that a bad
// experiment fails at submission, not in a queued job.
void check_experiment(const std::string& yaml_text, const std::string& source_name);
// The same for a file with --set overrides; gives the experiment's name and output folder (with
// their defaults filled in) so the caller need not read the file again.
struct ExperimentOutline {
  std::string name, output;
};
ExperimentOutline check_experiment_file(const std::string& path,
                                        const std::vector<std::string>& overrides = {});

// Merges OUT/shards/rank-*.h5 into OUT/results.h5 and writes OUT/results.json with the summary.
// `provenance` replaces the shards' root attributes of the same keys. `complete`: whether the run
// went through to the end; unknown (null in results.json) for a merge by hand. With `planned`
// (every model x sample id of the plan), results.json's "complete" is also false when any planned
// sample is missing from results.h5, and "planned" / "missing" say how many. The summary's order,
// metric band and config come from the resolved config stored in the shards. Used at the end of
// a run and by `xai merge` (a run whose ranks died).
MergedRun merge_run(const std::string& out_dir,
                    const std::map<std::string, std::string>& provenance = {},
                    std::optional<bool> complete = std::nullopt,
                    const std::vector<SampleKey>* planned = nullptr);

// The summary as an aligned plain-text table.
std::string format_summary(const std::vector<SummaryRow>& rows);

}  // namespace xai
