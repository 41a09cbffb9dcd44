// Rendezvous: a group root hands an opaque byte blob (an NCCL unique id) to the other ranks,
// over the CPU communicator (broadcast) or, where that cannot be used (e.g. Slurm without PMIx
// between NCCL ranks), through a file in a directory every rank can read. Knows nothing of NCCL,
// so it is unit-tested on CPU.
#pragma once

#include <string>

#include "framework/dist/communicator.h"

namespace xai {

struct RendezvousOptions {
  // Shared directory for the file rendezvous (XAI_NCCL_RENDEZVOUS); empty = broadcast over the
  // communicator.
  std::string dir;
  // File name inside `dir`; make it unique per run and group (see rendezvous_file_name).
  std::string name = "xai-rendezvous";
  double timeout_seconds = 120;  // how long a non-root rank waits for the root's file
  double poll_seconds = 0.05;
};

// "xai-<what>.<job tag>.<group>": the job tag comes from the launcher (SLURM_JOB_ID and
// SLURM_STEP_ID, else PMIX_NAMESPACE, else OMPI_MCA_ess_base_jobid, else "local"), so a file left
// by an earlier job is never read by this one.
std::string rendezvous_file_name(const std::string& what, int group);

// Writes `blob` to `file` atomically (a temporary file in the same directory, fsync, rename), so a
// reader sees all of it or nothing. Throws xai::Error naming the file.
void publish_blob(const std::string& file, const std::string& blob);

// Waits until `file` exists and returns its blob; throws a one-line xai::Error naming the file
// (with a HINT) after `timeout_seconds`, or when the file is not a rendezvous file.
std::string wait_for_blob(const std::string& file, double timeout_seconds,
                          double poll_seconds = 0.05);

// Collective over `comm`: every rank returns the blob that rank `root` passed (the others' `blob`
// is ignored). With options.dir empty this is comm.broadcast; else the root publishes
// options.dir/options.name and the others wait for it (no communicator call at all). The root
// should remove the file once every rank has read it (remove_blob).
std::string share_from_root(Communicator& comm, int root, const std::string& blob,
                            const RendezvousOptions& options);
// Same, for processes without a communicator: `is_root` publishes, the others wait.
std::string share_through_file(bool is_root, const std::string& blob,
                               const RendezvousOptions& options);
void remove_blob(const RendezvousOptions& options);  // no error when it is not there

}  // namespace xai
