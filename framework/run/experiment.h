// The config-driven run: experiment YAML -> models x dataset x explainers -> metrics -> per-rank
// HDF5 shard with a journal -> results.h5, results.json and a summary table.
#pragma once

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

namespace xai {

struct RunOptions {
  std::vector<std::string> overrides;  // --set key=value, applied to the YAML
  bool resume = false;  // continue a run in the same output folder, skipping finished samples
  std::ostream* log = &std::cerr;  // progress and notices
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
};

struct RunResult {
  std::string out_dir, results_h5, results_json;
  std::vector<SummaryRow> rows;
  int64_t samples_done_now = 0;  // processed in this invocation
  int64_t samples_skipped = 0;   // already finished (resume)
  int64_t failures = 0;
  bool interrupted = false;  // stopped by SIGINT/SIGTERM after flushing
};

// Throws xai::Error for configuration problems before any work starts; a sample or explainer
// that fails during the run is recorded and the run goes on.
RunResult run_experiment(const std::string& config_path, const RunOptions& options = {});

// The summary as an aligned plain-text table.
std::string format_summary(const std::vector<SummaryRow>& rows);

}  // namespace xai
