// metrics.pruning: after the merge, AttAttr's head-pruning experiment per model on the run's own
// samples (framework/eval/pruning.h), written into results.h5 (/models/<model>/pruning), into
// results.json ("pruning") and as OUT/pruning_<model>.svg. After every shard is merged (the head
// importance is a mean over all samples), on every rank together: rank 0 reads the importances,
// the samples are dealt over the ranks, each runs its share on its own device and the counts are
// summed. Under parallel.tensor > 1 rank 0 runs every sample with the whole model on the CPU.
#pragma once

#include <ostream>
#include <string>

#include "framework/dist/communicator.h"
#include "framework/run/plan.h"

namespace xai {

// Every rank calls this (a collective); `device` is this rank's; `log` is written on rank 0.
void run_pruning_stage(Communicator& comm, const Plan& plan, const at::Device& device,
                       const std::string& results_h5, const std::string& results_json,
                       std::ostream& log);

}  // namespace xai
