// The run's stages after the plan: the ranks' layout, who computes which samples, and the sample
// loop that explains them into the rank's shard. Internal to framework/run (run_experiment).
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "framework/dist/world.h"
#include "framework/io/results.h"
#include "framework/model/tensor_parallel.h"
#include "framework/text/sample_encoder.h"

namespace xai {

class Communicator;
class DeviceCollectives;
class RankWatchdog;
class ShardWriter;
struct Plan;

// Which rank does what. Replicas of `world.tensor` consecutive ranks (parallel.tensor) each hold
// one model together and run the same calls; perturbation groups of `per_group` consecutive
// replicas (parallel.perturbation) run the same samples (AtMan deals its perturbation batches over
// the group's replicas and sums the rows); the group's first replica runs the other methods alone
// and its first rank records the sample. Samples go to groups, not ranks:
//   rank = (group * per_group + member) * tensor + tensor rank.
// The value part is pure (layout_of); make_layout adds the communicators.
struct RunLayout {
  World world;
  int per_group = 1, groups = 1, group = 0;
  int member = 0;                 // this rank's replica within its perturbation group
  bool group_root = true;         // records the group's samples (member 0, tensor rank 0)
  bool runs_every_method = true;  // member 0: the methods that do not split perturbations
  at::Device device = at::kCPU;
  std::unique_ptr<Communicator> group_comm;           // the group's replicas at this tensor rank
  std::unique_ptr<DeviceCollectives> group_devices;   // the same over NCCL (collectives: nccl)
  std::unique_ptr<Communicator> unit_comm;            // every rank of the group (decisions)
  std::unique_ptr<Communicator> tensor_comm;          // the replica's ranks (tensor > 1)
  std::unique_ptr<DeviceCollectives> tensor_devices;  // the same over NCCL (collectives: nccl)
  std::unique_ptr<TensorGroup> tensor_group;          // the model's collectives over them

  std::string describe() const;  // "rank 3/4: group 0/1, replica 1 of 2, tensor rank 1 of 2"
};
// The numbers of the layout for `world` (world.tensor set), without communicators.
RunLayout layout_of(const World& world, int per_group);
RunLayout make_layout(Communicator& comm, const Plan& plan, at::Device device);

// This rank's share: per model, the dataset indices it computes (ascending), balanced by token
// count over the groups; and how each model reads a sample.
struct SampleWork {
  std::vector<SampleEncoder> encoders;
  std::vector<std::vector<int64_t>> mine;
  int64_t my_total = 0;  // samples this rank records (0 on a group's other members)
  int64_t total = 0;     // planned samples, all models
  int64_t finished = 0;  // of those, finished by earlier runs
};
SampleWork assign_samples(Communicator& comm, const Plan& plan, const RunLayout& layout,
                          const std::set<SampleKey>& done);

// The rank's shard writer, shared between the sample loop and the threads that must save its
// finished samples when the process is about to end: the watchdog (a peer died) and the stop
// flusher (a stop signal). The loop holds the lock only while it hands a sample over, never during
// a collective, so the others get it within one flush.
class SampleSaver {
 public:
  void attach(ShardWriter* writer);  // the loop's writer, until close()
  void add(SampleRecord r);
  void add_failure(Failure f);
  void close();  // flushes, closes and detaches the writer
  // From another thread: flushes what is buffered, waiting at most `wait` for the loop to let go.
  // Returns what happened, in words for the user ("saved its 75 finished samples").
  std::string flush_now(std::chrono::milliseconds wait);

 private:
  std::timed_mutex mu_;
  ShardWriter* writer_ = nullptr;
  int64_t handed_ = 0;  // samples handed over this run (journaled once flushed)
};

// Several ranks with runtime.rank_timeout > 0: the watchdog that ends this rank when a peer dies
// or freezes, after `saver` has saved this rank's finished samples (null otherwise). It should
// live until the ranks have passed their last collective.
std::unique_ptr<RankWatchdog> start_watchdog(Communicator& comm, const Plan& plan,
                                             SampleSaver& saver);

struct LoopTotals {
  int64_t done_now = 0, failures_now = 0;
  bool stopped = false;  // a stop signal (SIGINT, SIGTERM) ended the loop early
};
// Explains this rank's samples into OUT/shards/rank-<rank>.h5 through `saver`. A stop signal ends
// it after the sample in flight; what is finished is flushed within ~50 ms of the signal.
LoopTotals run_samples(const Plan& plan, RunLayout& layout, const SampleWork& work,
                       const ResultsMeta& meta, std::ostream& log, SampleSaver& saver,
                       RankWatchdog* watchdog);

}  // namespace xai
