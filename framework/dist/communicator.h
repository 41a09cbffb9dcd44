// Communicator: the collectives a run needs between its ranks (CPU memory, blocking), behind one
// interface so the pipeline never sees MPI. LocalCommunicator is the world of one process;
// the MPI implementation is built when MPI is found (XAI_WITH_MPI) and chosen only when the
// process was started by a launcher (mpirun, mpiexec, srun), so a plain `xai run` never needs
// MPI. Every rank must call the same collectives in the same order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/common/error.h"
#include "framework/dist/world.h"

namespace xai {

enum class ReduceOp { kSum, kMax, kMin };

// An error every rank throws at the same point (each rank learned it through a collective), so
// the ranks can end normally instead of aborting the job; rank 0 reports it.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;       // index among the ranks on this node
  virtual int local_size() const = 0;       // ranks on this node
  virtual std::string backend() const = 0;  // "local" or "mpi"

  virtual void barrier() = 0;
  // Root's bytes to every rank (resized on the others).
  virtual void broadcast(std::string& bytes, int root) = 0;
  // Every rank's bytes (of any length, empty included), by rank, on every rank.
  virtual std::vector<std::string> allgatherv(const std::string& mine) = 0;
  virtual std::vector<std::vector<int64_t>> allgatherv(const std::vector<int64_t>& mine) = 0;
  // Every rank's bytes, by rank, on `root`; an empty vector elsewhere.
  virtual std::vector<std::string> gather(const std::string& mine, int root) = 0;
  // Element-wise over ranks, in place; every rank must pass the same length.
  virtual void allreduce(std::vector<double>& values, ReduceOp op) = 0;
  virtual void allreduce(std::vector<int64_t>& values, ReduceOp op) = 0;
  // The hot path of tensor parallelism (a model split over the ranks): `count` floats reduced
  // element-wise in place, and every rank's `bytes` bytes gathered by rank into `recv` (which
  // holds size() * bytes). No copy beyond the caller's buffers.
  virtual void allreduce(float* data, size_t count, ReduceOp op) = 0;
  virtual void allreduce(double* data, size_t count, ReduceOp op) = 0;
  virtual void allgather_bytes(const void* send, void* recv, size_t bytes) = 0;
  // Ends every rank of the run now (a rank that cannot go on while others wait in a collective).
  [[noreturn]] virtual void abort(int exit_code) = 0;
  // Collective over this communicator: a new communicator of the ranks that passed the same
  // `color`, ordered by `key` (then by rank). Every rank must call it.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Conveniences built on the above.
  std::vector<int64_t> allgather(int64_t mine);
  int64_t allreduce_value(int64_t value, ReduceOp op);
  double allreduce_value(double value, ReduceOp op);
  World world(int tensor = 1) const;
};

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void barrier() override {}
  void broadcast(std::string&, int root) override;
  std::vector<std::string> allgatherv(const std::string& mine) override { return {mine}; }
  std::vector<std::vector<int64_t>> allgatherv(const std::vector<int64_t>& mine) override {
    return {mine};
  }
  std::vector<std::string> gather(const std::string& mine, int root) override;
  void allreduce(std::vector<double>&, ReduceOp) override {}
  void allreduce(std::vector<int64_t>&, ReduceOp) override {}
  void allreduce(float*, size_t, ReduceOp) override {}
  void allreduce(double*, size_t, ReduceOp) override {}
  void allgather_bytes(const void* send, void* recv, size_t bytes) override;
  [[noreturn]] void abort(int exit_code) override;
  std::unique_ptr<Communicator> split(int, int) override {
    return std::make_unique<LocalCommunicator>();
  }
};

// How this process was started, from the launchers' environment variables: OpenMPI
// (OMPI_COMM_WORLD_SIZE), MPICH/Hydra and Intel MPI (PMI_SIZE, PMI_RANK), PMIx (PMIX_RANK), and
// a Slurm job step (SLURM_STEP_NUM_TASKS). 0 when none is set (a plain launch), else the
// expected world size (1 when only PMIX_RANK says so). XAI_MPI=0 forces 0.
int launched_world_size();

// The communicator for this process: MPI when it was launched by one (launched_world_size() > 0)
// and MPI is built in, else a LocalCommunicator. Initialises MPI (and finalises it when the
// communicator is destroyed). Throws a one-line xai::Error when a launcher started several ranks
// but this build has no MPI.
std::unique_ptr<Communicator> make_communicator();
bool mpi_built();

// Length-prefixed packing of strings into one byte string, for the byte collectives.
std::string pack_strings(const std::vector<std::string>& items);
std::vector<std::string> unpack_strings(const std::string& bytes);  // throws on damaged input

}  // namespace xai
