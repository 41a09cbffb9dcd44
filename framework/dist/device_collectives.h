// DeviceCollectives: collectives on GPU memory between the ranks of a group (one GPU per rank),
// beside the byte-oriented CPU Communicator: the pipeline's control traffic (work lists, errors,
// metrics) stays on MPI, device buffers go through NCCL. The NCCL implementation is built when
// CMake finds nccl.h, libnccl and the CUDA runtime (XAI_WITH_NCCL); it needs no CUDA LibTorch.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "framework/dist/communicator.h"
#include "framework/dist/rendezvous.h"

namespace xai {

enum class DeviceDType { kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64 };

class DeviceCollectives {
 public:
  virtual ~DeviceCollectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int device() const = 0;           // the CUDA device index this rank drives
  virtual std::string backend() const = 0;  // "nccl"

  // All blocking: they run on the legacy default CUDA stream (LibTorch's default stream, so
  // they follow the kernels that produced the data) and return when the result is in place.
  // `data`, `send`, `recv` are device pointers on device().
  virtual void allreduce(void* data, size_t count, DeviceDType dtype, ReduceOp op) = 0;
  // recv holds size() * count elements, rank r's at r * count.
  virtual void allgather(const void* send, void* recv, size_t count, DeviceDType dtype) = 0;
  virtual void broadcast(void* data, size_t count, DeviceDType dtype, int root) = 0;
  // A host vector summed through the device (copy in, allreduce, copy out).
  virtual void allreduce_host(std::vector<double>& values, ReduceOp op) = 0;
};

bool nccl_built();
// CUDA devices the CUDA runtime sees (0 without NCCL support built in, or without a driver).
int cuda_runtime_devices();

// Collective over `comm`: an NCCL communicator of comm's ranks, this rank on CUDA device
// `device`. Rank 0 of `comm` makes the NCCL unique id and shares it (share_from_root: an MPI
// broadcast, or the file rendezvous when rendezvous.dir is set). Throws a one-line xai::Error
// with a HINT when this build has no NCCL, or when CUDA or NCCL fail.
std::unique_ptr<DeviceCollectives> make_nccl_communicator(Communicator& comm, int device,
                                                          const RendezvousOptions& rendezvous);

// The rendezvous of a run's NCCL groups: the file rendezvous when XAI_NCCL_RENDEZVOUS names a
// directory (file rendezvous_file_name(what, group) in it), else the MPI broadcast. `what` tells
// kinds of groups apart ("nccl-id": perturbation groups, "nccl-tp-id": tensor-parallel groups).
RendezvousOptions nccl_rendezvous_from_env(int group, const std::string& what = "nccl-id");

}  // namespace xai
