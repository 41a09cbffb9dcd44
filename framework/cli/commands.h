// The xai subcommands. Each takes its arguments (after the subcommand name) and returns an exit
// code.
#pragma once

#include <string>
#include <vector>

namespace xai::cli {

int inspect_model(const std::vector<std::string>& args);
int predict(const std::vector<std::string>& args);
int run(const std::vector<std::string>& args);
int plan(const std::vector<std::string>& args);  // plan.cpp
int merge(const std::vector<std::string>& args);
int report(const std::vector<std::string>& args);  // report.cpp: the HTML report
int explain(const std::vector<std::string>& args);
int train(const std::vector<std::string>& args);  // train.cpp, as make_toy_data
int make_toy_data(const std::vector<std::string>& args);
int make_model(const std::vector<std::string>& args);
// cluster.cpp: Slurm jobs and sweeps
int submit(const std::vector<std::string>& args);
int sweep(const std::vector<std::string>& args);
int status(const std::vector<std::string>& args);
int collect(const std::vector<std::string>& args);

}  // namespace xai::cli
