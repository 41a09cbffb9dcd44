// xai run: one experiment YAML end to end, as one process or as one rank of many (mpirun, srun).
#include <iostream>
#include <memory>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/dist/communicator.h"
#include "framework/run/experiment.h"

namespace xai::cli {

int run(const std::vector<std::string>& argv) {
  Args args("run", argv, {"set", "out"}, {"resume", "allow-changed"});
  XAI_CHECK(args.positional().size() == 1,
            "run: give exactly one experiment YAML (HINT: xai run configs/demo.yaml)");
  RunOptions options;
  options.overrides = args.get_all("set");
  if (auto out = args.get("out")) options.overrides.push_back("output=" + *out);
  options.resume = args.flag("resume");
  options.allow_changed = args.flag("allow-changed");
  XAI_CHECK(!options.allow_changed || options.resume,
            "run: --allow-changed only applies with --resume");
  // MPI only when a launcher started this process; a plain `xai run` is a world of one.
  std::unique_ptr<Communicator> comm = make_communicator();
  options.comm = comm.get();
  RunResult r;
  try {
    r = run_experiment(args.positional()[0], options);
  } catch (const CollectiveError& e) {
    // Every rank has it: rank 0 reports it, and all end normally.
    if (comm->rank() == 0) throw;
    return 1;
  } catch (const std::exception& e) {
    if (comm->size() <= 1) throw;
    // The other ranks may be waiting in a collective: end them all rather than hang.
    std::cerr << "xai run: error on rank " << comm->rank() << " of " << comm->size() << ": "
              << e.what() << "\n"
              << std::flush;
    comm->abort(1);
  }
  if (r.rank == 0) {
    std::cout << "\n" << format_summary(r.rows) << "\n";
    std::cout << "results: " << r.results_h5 << "\n"
              << "summary: " << r.results_json << "\n";
    if (r.failures > 0) {
      std::cout << r.failures << " failure(s) this run are listed under /failures in "
                << r.results_h5 << "\n";
    }
  }
  if (r.interrupted) return 130;
  return r.missing > 0 ? 4 : 0;  // incomplete against the plan (the log said why)
}

}  // namespace xai::cli
