// Talking to Slurm through its commands (sbatch, squeue, scancel): no library, no daemon link.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace xai {

struct CommandResult {
  int status = -1;     // exit status; 127 when the command was not found
  std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh, capturing its output.
CommandResult run_command(const std::string& command);
bool have_command(const std::string& name);

// `sbatch --parsable ARGS... SCRIPT`: the job id. A rejection (bad partition, ...) is an
// xai::Error with sbatch's own message on one line, prefixed by `what`.
std::string sbatch_submit(const std::string& script, const std::vector<std::string>& args,
                          const std::string& what);

// squeue's view of the jobs it still knows: "123" or "123_4" (array task) -> state (PENDING,
// RUNNING, ...). A pending array range "123_[5-7%2]" is expanded. Empty when squeue is absent.
std::map<std::string, std::string> squeue_states();

// The job/task keys of one squeue %i field, for squeue_states (tested without Slurm).
std::vector<std::string> expand_squeue_id(const std::string& id);

}  // namespace xai
