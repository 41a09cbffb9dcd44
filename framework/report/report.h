// xai report: one self-contained HTML page (no network: styles, scripts and the data inline, plots
// drawn as SVG in the page) for a run's folder or a sweep's, written next to the results.
//
// A run's page: the summary table (each metric's mean and bootstrap 95% interval, sortable, the
// best method per metric marked, cost columns), per-sample views (the prompt with each method's
// relevance as a heat colour on its tokens, the evidence underlined, the target shown; paged and
// searchable), metric distributions per method (box plots), the deletion and insertion curves
// averaged over samples, the methods' rank correlation (a heatmap), time and memory per method,
// the paired tests, and the provenance (config, commit, versions, world size, hosts, Slurm ids).
// A sweep's page: one row per point with its parameters and results, linking each point's page.
#pragma once

#include <cstdint>
#include <string>

#include "nlohmann/json_fwd.hpp"

namespace xai {

struct ReportOptions {
  // Samples per model with a per-sample view (the first in file order); the tables and plots use
  // every sample.
  int64_t max_samples = 500;
  std::string output;  // "" = DIR/report.html
};

// Writes the report of DIR (a run's output folder: results.json and results.h5; or a sweep's:
// points.json, and then every finished point's page too). Returns the page's path. Throws
// xai::Error naming the file when DIR holds neither, or its results cannot be read.
std::string write_report(const std::string& dir, const ReportOptions& options = {});

// The data the page shows for a run's folder, as the page embeds it (tested on its own).
nlohmann::ordered_json run_report_data(const std::string& dir, const ReportOptions& options);

// The page: the template with `data` embedded (no network: everything inline).
std::string report_page(const nlohmann::ordered_json& data);

}  // namespace xai
