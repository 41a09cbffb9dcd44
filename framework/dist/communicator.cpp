#include "framework/dist/communicator.h"

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "framework/common/error.h"

namespace xai {

#ifdef XAI_WITH_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // mpi_communicator.cpp
bool mpi_built() { return true; }
#else
bool mpi_built() { return false; }
#endif

std::vector<int64_t> Communicator::allgather(int64_t mine) {
  std::vector<int64_t> out;
  for (const auto& v : allgatherv(std::vector<int64_t>{mine})) out.push_back(v.at(0));
  return out;
}

int64_t Communicator::allreduce_value(int64_t value, ReduceOp op) {
  std::vector<int64_t> v{value};
  allreduce(v, op);
  return v[0];
}

double Communicator::allreduce_value(double value, ReduceOp op) {
  std::vector<double> v{value};
  allreduce(v, op);
  return v[0];
}

World Communicator::world(int tensor) const {
  return World::make(size(), rank(), local_size(), local_rank(), tensor, backend());
}

void LocalCommunicator::broadcast(std::string&, int root) {
  XAI_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a 1-rank world");
}

std::vector<std::string> LocalCommunicator::gather(const std::string& mine, int root) {
  XAI_CHECK(root == 0, "gather: root ", root, " is not a rank of a 1-rank world");
  return {mine};
}

void LocalCommunicator::allgather_bytes(const void* send, void* recv, size_t bytes) {
  if (bytes > 0 && send != recv) std::memmove(recv, send, bytes);
}

void LocalCommunicator::abort(int exit_code) { std::_Exit(exit_code); }

namespace {
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0' && n >= 0 && n < (1L << 30)) ? static_cast<int>(n) : -1;
}
}  // namespace

int launched_world_size() {
  if (const char* force = std::getenv("XAI_MPI")) {
    if (!std::strcmp(force, "0") || !std::strcmp(force, "off")) return 0;
  }
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const int n = env_int(var);
    if (n > 0) return n;
  }
  if (env_int("PMIX_RANK") >= 0 || env_int("PMI_RANK") >= 0) return 1;
  return 0;
}

std::unique_ptr<Communicator> make_communicator() {
  const int launched = launched_world_size();
  if (launched == 0) return std::make_unique<LocalCommunicator>();
#ifdef XAI_WITH_MPI
  return make_mpi_communicator();
#else
  XAI_CHECK(launched <= 1, "this xai was built without MPI but was launched as one of ", launched,
            " ranks (HINT: install an MPI (libopenmpi-dev) and rebuild, or run without mpirun)");
  return std::make_unique<LocalCommunicator>();
#endif
}

std::string pack_strings(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    const uint64_t n = s.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof(n));
    out += s;
  }
  return out;
}

std::vector<std::string> unpack_strings(const std::string& bytes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint64_t n = 0;
    XAI_CHECK(bytes.size() - pos >= sizeof(n), "unpack_strings: truncated length at byte ", pos);
    std::memcpy(&n, bytes.data() + pos, sizeof(n));
    pos += sizeof(n);
    XAI_CHECK(n <= bytes.size() - pos, "unpack_strings: item of ", n, " bytes overruns the ",
              bytes.size(), "-byte buffer at byte ", pos);
    out.emplace_back(bytes, pos, n);
    pos += n;
  }
  return out;
}

}  // namespace xai
