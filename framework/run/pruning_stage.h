// metrics.pruning: after the merge, AttAttr's head-pruning experiment per model on the run's own
// samples (framework/eval/pruning.h), written into results.h5 (/models/<model>/pruning), into
// results.json ("pruning") and as OUT/pruning_<model>.svg. Rank 0 only, after every shard is
// merged (the head importance is a mean over all samples).
#pragma once

#include <ostream>
#include <string>

#include "framework/run/plan.h"

namespace xai {

void run_pruning_stage(const Plan& plan, const std::string& results_h5,
                       const std::string& results_json, std::ostream& log);

}  // namespace xai
