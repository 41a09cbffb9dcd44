#include "framework/dist/device_collectives.h"

#include <cstdlib>

#include "framework/common/error.h"

namespace xai {

RendezvousOptions nccl_rendezvous_from_env(int group, const std::string& what) {
  RendezvousOptions o;
  if (const char* dir = std::getenv("XAI_NCCL_RENDEZVOUS")) o.dir = dir;
  o.name = rendezvous_file_name(what, group);
  if (const char* t = std::getenv("XAI_NCCL_RENDEZVOUS_TIMEOUT")) {
    char* end = nullptr;
    const double s = std::strtod(t, &end);
    XAI_CHECK(end != t && *end == '\0' && s > 0, "XAI_NCCL_RENDEZVOUS_TIMEOUT='", t,
              "' is not a positive number of seconds");
    o.timeout_seconds = s;
  }
  return o;
}

#ifndef XAI_WITH_NCCL
bool nccl_built() { return false; }
int cuda_runtime_devices() { return 0; }

std::unique_ptr<DeviceCollectives> make_nccl_communicator(Communicator&, int,
                                                          const RendezvousOptions&) {
  throw Error(
      "runtime.collectives: nccl: this xai was built without NCCL (HINT: install NCCL and the "
      "CUDA toolkit (nccl.h, libnccl, libcudart), set NCCL_HOME if needed, and rebuild with "
      "-DXAI_WITH_NCCL=ON, or use runtime.collectives: mpi)");
}
#endif

}  // namespace xai
