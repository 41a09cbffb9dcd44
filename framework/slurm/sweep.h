// Benchmark sweeps: a grid (models x datasets x explainers x parameter values, with include and
// exclude rules) expanded into one experiment YAML per point, each with a stable id.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/slurm/job_script.h"

namespace xai {

struct SweepPoint {
  std::string id;  // stable: from the point's content, never from its position
  std::string model, dataset, explainer;  // axis item names ("" when the axis is absent)
  std::vector<std::pair<std::string, std::string>> params;  // (override path, value as YAML)
  std::string experiment_yaml;  // the point's complete experiment, no includes
};

struct Sweep {
  std::string name, path;          // path of the sweep file
  std::string output;              // the sweep's folder; point i is OUTPUT/points/<id>/
  std::string profile;             // "" = the default profile
  int64_t max_concurrent = 0;      // the array's %M; 0 = no cap
  SbatchOptions sbatch;            // on top of the profile's
  std::vector<SweepPoint> points;  // models outermost, then datasets, explainers, parameters in
                                   // file order; include rules appended in their order
};

// Reads and expands a sweep file (strict: unknown keys name the nearest valid one). `overrides`
// are --set path=value applied to the sweep file. Errors are one line naming the field.
Sweep load_sweep(const std::string& path, const std::vector<std::string>& overrides = {});

// The folder of a point's results, and whether it holds finished results (results.json with
// "complete": true).
std::string point_dir(const Sweep& s, const SweepPoint& p);
bool point_done(const std::string& dir);

// Writes OUT/points/<id>/experiment.yaml for every point and OUT/points.json (the manifest that
// status and collect read).
void write_sweep_points(const Sweep& s);

}  // namespace xai
