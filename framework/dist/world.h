// World: where one process sits in a run, as a plain value. Ranks are grouped into data-parallel
// replicas of `tensor` consecutive ranks (one tensor-parallel group each); the answers are pure
// functions of the numbers, so they are unit-tested without MPI.
#pragma once

#include <string>

namespace xai {

struct World {
  int size = 1;        // ranks in the run
  int rank = 0;        // 0 .. size-1
  int local_size = 1;  // ranks on this node
  int local_rank = 0;  // 0 .. local_size-1, this rank's index on its node
  int tensor = 1;      // tensor-parallel group size (parallel.tensor), divides size

  // Validates the numbers; throws a one-line xai::Error naming the bad one (`where` says where
  // they came from, e.g. "parallel.tensor" or "MPI").
  static World make(int size, int rank, int local_size, int local_rank, int tensor = 1,
                    const std::string& where = "world");

  bool is_root() const { return rank == 0; }
  int replicas() const { return size / tensor; }      // data-parallel replicas
  int replica() const { return rank / tensor; }       // this rank's replica
  int tp_rank() const { return rank % tensor; }       // rank inside its tensor-parallel group
  int tp_root() const { return replica() * tensor; }  // the group's first (world) rank
  // The accelerator this rank drives when each node has `devices` of them: one per local rank,
  // shared round-robin when there are more ranks than devices; -1 when there are none (CPU).
  int device(int devices) const { return devices > 0 ? local_rank % devices : -1; }
  // True when every tensor-parallel group lies on one node (ranks are placed by node in order):
  // a group spanning nodes would all-reduce over the network on every layer.
  bool tp_groups_within_nodes() const { return local_size % tensor == 0; }

  std::string describe() const;  // "rank 2/4 (local 0/2, replica 1/2, tp 0/2)"
};

}  // namespace xai
