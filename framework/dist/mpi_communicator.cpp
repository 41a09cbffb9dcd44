// The MPI communicator (built when CMake finds MPI: XAI_WITH_MPI). Owns a duplicate of
// MPI_COMM_WORLD and a node-local communicator from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED);
// initialises MPI if nobody did, and finalises what it initialised.
#include <mpi.h>

#include <climits>
#include <cstdint>
#include <numeric>

#include "framework/common/error.h"
#include "framework/dist/communicator.h"

namespace xai {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(str_cat("MPI: ", what, " failed: ", std::string(msg, static_cast<size_t>(len))));
}

int as_count(size_t n, const char* what) {
  XAI_CHECK(n <= static_cast<size_t>(INT_MAX), "MPI: ", what, ": ", n,
            " elements exceed one message (INT_MAX); HINT: split the data");
  return static_cast<int>(n);
}

MPI_Op op_of(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Only the main thread calls MPI; LibTorch's worker threads never do.
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    check(MPI_Comm_dup(MPI_COMM_WORLD, &world_), "MPI_Comm_dup");
    init_from_world();
  }
  // A sub-communicator (from split): owns `comm`, never finalises MPI.
  explicit MpiCommunicator(MPI_Comm comm) : world_(comm) { init_from_world(); }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    MPI_Comm_free(&node_);
    MPI_Comm_free(&world_);
    if (owns_mpi_) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override { check(MPI_Barrier(world_), "MPI_Barrier"); }

  void broadcast(std::string& bytes, int root) override {
    check_root(root, "broadcast");
    uint64_t n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, world_), "MPI_Bcast");
    if (rank_ != root) bytes.resize(n);
    if (n > 0) {
      check(MPI_Bcast(bytes.data(), as_count(n, "broadcast"), MPI_BYTE, root, world_), "MPI_Bcast");
    }
  }

  std::vector<std::string> allgatherv(const std::string& mine) override {
    std::vector<int> counts, displs;
    const int total = exchange_counts(mine.size(), counts, displs, "allgatherv");
    std::string all(static_cast<size_t>(total), '\0');
    // MPI wants a non-null buffer even for zero bytes on some implementations.
    char dummy = 0;
    check(MPI_Allgatherv(mine.empty() ? &dummy : mine.data(), counts[rank_], MPI_BYTE,
                         all.empty() ? &dummy : all.data(), counts.data(), displs.data(), MPI_BYTE,
                         world_),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.emplace_back(all, displs[r], counts[r]);
    return out;
  }

  std::vector<std::vector<int64_t>> allgatherv(const std::vector<int64_t>& mine) override {
    std::vector<int> counts, displs;
    const int total = exchange_counts(mine.size(), counts, displs, "allgatherv");
    std::vector<int64_t> all(static_cast<size_t>(total));
    int64_t dummy = 0;
    check(MPI_Allgatherv(mine.empty() ? &dummy : mine.data(), counts[rank_], MPI_INT64_T,
                         all.empty() ? &dummy : all.data(), counts.data(), displs.data(),
                         MPI_INT64_T, world_),
          "MPI_Allgatherv");
    std::vector<std::vector<int64_t>> out;
    for (int r = 0; r < size_; ++r)
      out.emplace_back(all.begin() + displs[r], all.begin() + displs[r] + counts[r]);
    return out;
  }

  std::vector<std::string> gather(const std::string& mine, int root) override {
    check_root(root, "gather");
    const int n = as_count(mine.size(), "gather");
    std::vector<int> counts(static_cast<size_t>(size_), 0), displs(static_cast<size_t>(size_), 0);
    check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, world_), "MPI_Gather");
    std::string all;
    if (rank_ == root) {
      int64_t total = 0;
      for (int r = 0; r < size_; ++r) {
        displs[r] = as_count(static_cast<size_t>(total), "gather");
        total += counts[r];
      }
      all.resize(static_cast<size_t>(as_count(static_cast<size_t>(total), "gather")));
    }
    char dummy = 0;
    check(MPI_Gatherv(mine.empty() ? &dummy : mine.data(), n, MPI_BYTE,
                      all.empty() ? &dummy : all.data(), counts.data(), displs.data(), MPI_BYTE,
                      root, world_),
          "MPI_Gatherv");
    std::vector<std::string> out;
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r) out.emplace_back(all, displs[r], counts[r]);
    }
    return out;
  }

  void allreduce(std::vector<double>& values, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), as_count(values.size(), "allreduce"),
                        MPI_DOUBLE, op_of(op), world_),
          "MPI_Allreduce");
  }
  void allreduce(std::vector<int64_t>& values, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), as_count(values.size(), "allreduce"),
                        MPI_INT64_T, op_of(op), world_),
          "MPI_Allreduce");
  }

  void allreduce(float* data, size_t count, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, as_count(count, "allreduce"), MPI_FLOAT, op_of(op),
                        world_),
          "MPI_Allreduce");
  }
  void allreduce(double* data, size_t count, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, as_count(count, "allreduce"), MPI_DOUBLE, op_of(op),
                        world_),
          "MPI_Allreduce");
  }
  void allgather_bytes(const void* send, void* recv, size_t bytes) override {
    check(MPI_Allgather(send, as_count(bytes, "allgather"), MPI_BYTE, recv,
                        as_count(bytes, "allgather"), MPI_BYTE, world_),
          "MPI_Allgather");
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    XAI_CHECK(color >= 0, "split: color must be >= 0 (got ", color, ")");
    MPI_Comm sub = MPI_COMM_NULL;
    check(MPI_Comm_split(world_, color, key, &sub), "MPI_Comm_split");
    return std::make_unique<MpiCommunicator>(sub);
  }

  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  void init_from_world() {
    // Errors come back as codes (turned into xai::Error) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(world_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(world_, &rank_);
    MPI_Comm_size(world_, &size_);
    check(MPI_Comm_split_type(world_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_),
          "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
    MPI_Comm_rank(node_, &local_rank_);
    MPI_Comm_size(node_, &local_size_);
  }
  void check_root(int root, const char* what) const {
    XAI_CHECK(root >= 0 && root < size_, what, ": root ", root, " is not a rank (0..", size_ - 1,
              ")");
  }
  // Every rank's element count; returns the total. counts/displs are sized to the world.
  int exchange_counts(size_t mine, std::vector<int>& counts, std::vector<int>& displs,
                      const char* what) {
    const int n = as_count(mine, what);
    counts.assign(static_cast<size_t>(size_), 0);
    displs.assign(static_cast<size_t>(size_), 0);
    check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, world_), "MPI_Allgather");
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = as_count(static_cast<size_t>(total), what);
      total += counts[r];
    }
    return as_count(static_cast<size_t>(total), what);
  }

  MPI_Comm world_ = MPI_COMM_NULL, node_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace xai
