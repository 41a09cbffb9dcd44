// xai run: one experiment YAML end to end.
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/run/experiment.h"

namespace xai::cli {

int run(const std::vector<std::string>& argv) {
  Args args("run", argv, {"set", "out"}, {"resume"});
  XAI_CHECK(args.positional().size() == 1,
            "run: give exactly one experiment YAML (HINT: xai run configs/demo.yaml)");
  RunOptions options;
  options.overrides = args.get_all("set");
  if (auto out = args.get("out")) options.overrides.push_back("output=" + *out);
  options.resume = args.flag("resume");
  RunResult r = run_experiment(args.positional()[0], options);
  std::cout << "\n" << format_summary(r.rows) << "\n";
  std::cout << "results: " << r.results_h5 << "\n"
            << "summary: " << r.results_json << "\n";
  if (r.failures > 0) {
    std::cout << r.failures << " failure(s) this run are listed under /failures in " << r.results_h5
              << "\n";
  }
  return r.interrupted ? 130 : 0;
}

}  // namespace xai::cli
