// run_experiment as the pipeline tests call it: from the repository root (the YAML's paths are
// relative to it), quietly, with the log handed back however the run ends.
#pragma once

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "framework/run/experiment.h"

namespace xai::test {

inline RunResult run_at_root(const std::string& yaml_path, std::vector<std::string> overrides = {},
                             bool resume = false, std::string* log_text = nullptr) {
  std::ostringstream log;
  RunOptions o;
  o.overrides = std::move(overrides);
  o.resume = resume;
  o.log = &log;
  struct Back {  // the working directory and the log, however the run ends
    std::filesystem::path cwd;
    std::ostringstream& log;
    std::string* out;
    ~Back() {
      std::filesystem::current_path(cwd);
      if (out) *out = log.str();
    }
  } back{std::filesystem::current_path(), log, log_text};
  std::filesystem::current_path(XAI_SOURCE_DIR);
  return run_experiment(yaml_path, o);
}

}  // namespace xai::test
