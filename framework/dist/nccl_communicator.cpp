// The NCCL implementation of DeviceCollectives (built when XAI_WITH_NCCL): the canonical
// one-GPU-per-process bootstrap. Rank 0 calls ncclGetUniqueId, the id reaches the others over
// MPI (or the file rendezvous), each rank selects its device and calls ncclCommInitRank. Uses
// only the CUDA runtime API, so it compiles against a CPU-only LibTorch.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>

#include "framework/common/error.h"
#include "framework/dist/device_collectives.h"

namespace xai {

bool nccl_built() { return true; }

int cuda_runtime_devices() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

namespace {

void check_cuda(cudaError_t rc, const char* what) {
  if (rc == cudaSuccess) return;
  throw Error(str_cat("CUDA: ", what, " failed: ", cudaGetErrorString(rc),
                      " (HINT: check nvidia-smi, CUDA_VISIBLE_DEVICES and runtime.device)"));
}

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc == ncclSuccess) return;
  throw Error(str_cat("NCCL: ", what, " failed: ", ncclGetErrorString(rc),
                      " (HINT: rerun with NCCL_DEBUG=WARN for NCCL's reason)"));
}

ncclDataType_t nccl_type(DeviceDType t) {
  switch (t) {
    case DeviceDType::kFloat32:
      return ncclFloat32;
    case DeviceDType::kFloat64:
      return ncclFloat64;
    case DeviceDType::kFloat16:
      return ncclFloat16;
    case DeviceDType::kBFloat16:
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
      return ncclBfloat16;
#else
      throw Error("NCCL: bfloat16 needs NCCL >= 2.10");
#endif
    case DeviceDType::kInt32:
      return ncclInt32;
    case DeviceDType::kInt64:
      return ncclInt64;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

class NcclCommunicator final : public DeviceCollectives {
 public:
  NcclCommunicator(Communicator& comm, int device, const RendezvousOptions& rendezvous)
      : rank_(comm.rank()), size_(comm.size()), device_(device) {
    // Local set-up first; over MPI the ranks then agree that all succeeded, so a rank that
    // fails here never leaves the others waiting in ncclCommInitRank.
    std::string error, blob;
    try {
      int devices = 0;
      check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
      XAI_CHECK(device >= 0 && device < devices, "NCCL: device ", device, " is not one of the ",
                devices, " visible GPU(s) (HINT: runtime.device must resolve to a GPU)");
      check_cuda(cudaSetDevice(device), "cudaSetDevice");
      if (rank_ == 0) {
        ncclUniqueId id;
        check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
        blob.assign(reinterpret_cast<const char*>(&id), sizeof(id));
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (rendezvous.dir.empty()) {
      const auto errors = comm.allgatherv(error);
      for (size_t r = 0; r < errors.size(); ++r) {
        if (!errors[r].empty()) {
          throw Error(static_cast<int>(r) == rank_ ? errors[r]
                                                   : str_cat("rank ", r, ": ", errors[r]));
        }
      }
    } else if (!error.empty()) {
      throw Error(error);  // the others time out naming the rendezvous file
    }
    blob = share_from_root(comm, 0, blob, rendezvous);
    XAI_CHECK(blob.size() == sizeof(ncclUniqueId), "NCCL: the unique id from rank 0 has ",
              blob.size(), " bytes, expected ", sizeof(ncclUniqueId),
              " (HINT: every rank must run the same xai build)");
    ncclUniqueId id;
    std::memcpy(&id, blob.data(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    // Init returns once every rank has joined, so nobody needs the file any more.
    if (rank_ == 0) remove_blob(rendezvous);
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const override { return device_; }
  std::string backend() const override { return "nccl"; }

  void allreduce(void* data, size_t count, DeviceDType dtype, ReduceOp op) override {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclAllReduce(data, data, count, nccl_type(dtype), nccl_op(op), comm_, stream()),
               "ncclAllReduce");
    sync();
  }
  void allgather(const void* send, void* recv, size_t count, DeviceDType dtype) override {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclAllGather(send, recv, count, nccl_type(dtype), comm_, stream()),
               "ncclAllGather");
    sync();
  }
  void broadcast(void* data, size_t count, DeviceDType dtype, int root) override {
    XAI_CHECK(root >= 0 && root < size_, "NCCL broadcast: root ", root, " is not a rank (0..",
              size_ - 1, ")");
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclBroadcast(data, data, count, nccl_type(dtype), root, comm_, stream()),
               "ncclBroadcast");
    sync();
  }
  void allreduce_host(std::vector<double>& values, ReduceOp op) override {
    if (values.empty()) return;
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    const size_t bytes = values.size() * sizeof(double);
    void* buf = nullptr;
    check_cuda(cudaMalloc(&buf, bytes), "cudaMalloc");
    try {
      check_cuda(cudaMemcpy(buf, values.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
      allreduce(buf, values.size(), DeviceDType::kFloat64, op);
      check_cuda(cudaMemcpy(values.data(), buf, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
    } catch (...) {
      cudaFree(buf);
      throw;
    }
    check_cuda(cudaFree(buf), "cudaFree");
  }

 private:
  static cudaStream_t stream() { return cudaStreamLegacy; }
  void sync() { check_cuda(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

  int rank_ = 0, size_ = 1, device_ = 0;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceCollectives> make_nccl_communicator(Communicator& comm, int device,
                                                          const RendezvousOptions& rendezvous) {
  return std::make_unique<NcclCommunicator>(comm, device, rendezvous);
}

}  // namespace xai
