// xai merge: OUT/shards/rank-*.h5 -> OUT/results.h5 and results.json by hand, for a run whose
// ranks died before rank 0 could merge (what finished is in the shards; --resume computes the
// rest).
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/io/journal.h"
#include "framework/run/experiment.h"
#include "framework/run/output_folder.h"

namespace xai::cli {

int merge(const std::vector<std::string>& argv) {
  Args args("merge", argv, {}, {});
  XAI_CHECK(args.positional().size() == 1,
            "merge: give exactly one output folder (HINT: xai merge out/demo)");
  const std::string out_dir = args.positional()[0];
  const auto shards = list_shards(out_dir);
  XAI_CHECK(!shards.empty(), out_dir,
            "/shards: no rank-XXXXX.h5 shards to merge (HINT: give the run's output folder)");
  // Not under a live run: it would merge shards that are still being written.
  const OutputLock lock = OutputLock::acquire(out_dir, "", "merge");
  remove_leftovers(out_dir);
  MergedRun m = merge_run(out_dir, {{"merged_by", "xai merge"}});
  for (const auto& c : m.conflicts) std::cerr << "xai merge: note: " << c << "\n";
  std::cout << format_summary(m.rows) << "\n";
  std::cout << "merged " << shards.size() << " shard(s): " << m.samples << " samples, "
            << m.failures << " failure(s)";
  if (m.duplicates > 0) std::cout << ", " << m.duplicates << " duplicate row(s) dropped";
  std::cout << "\nresults: " << m.results_h5 << "\nsummary: " << m.results_json << "\n";
  return 0;
}

}  // namespace xai::cli
