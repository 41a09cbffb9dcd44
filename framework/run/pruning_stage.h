// metrics.pruning: after the merge, AttAttr's head-pruning experiment per model on the run's own
// samples (framework/eval/pruning.h), written into results.h5 (/models/<model>/pruning), into
// results.json ("pruning") and as OUT/pruning_<model>.svg. After every shard is merged (the head
// importance is a mean over all samples), on every rank together: rank 0 reads the importances,
// the samples are dealt over the model replicas, each runs its share on its ranks' devices (a
// replica of parallel.tensor ranks runs the split model together) and the counts are summed.
#pragma once

#include <ostream>
#include <string>

#include "framework/dist/communicator.h"
#include "framework/run/plan.h"
#include "framework/run/sample_loop.h"

namespace xai {

// Every rank calls this (a collective) with the run's layout (its device and, under tensor
// parallelism, its replica's group); `log` is written on rank 0.
void run_pruning_stage(Communicator& comm, const Plan& plan, const RunLayout& layout,
                       const std::string& results_h5, const std::string& results_json,
                       std::ostream& log);

}  // namespace xai
