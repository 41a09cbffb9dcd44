// runtime.device resolution: which device this rank drives, as a pure function of the request,
// what LibTorch offers and where the rank sits (World), so every case is unit-tested without a GPU.
#pragma once

#include <string>

#include "framework/dist/world.h"

namespace xai {

// What the build and the machine offer this process.
struct DeviceInventory {
  bool cuda_built = false;  // LibTorch was built with CUDA
  int cuda_devices = 0;     // devices visible to this process (CUDA_VISIBLE_DEVICES applies)
};

// Resolves a runtime.device value for one rank:
//   "cpu"     -> "cpu"
//   "auto"    -> "cuda:<World::device(n)>" when CUDA is built and n > 0 devices are visible,
//                else "cpu"
//   "cuda"    -> "cuda:<World::device(n)>": one GPU per local rank (round-robin when the node has
//                more ranks than GPUs; device 0 when the scheduler shows each rank one GPU)
//   "cuda:N"  -> "cuda:N", the same device on every rank
// Throws a one-line xai::Error naming `where` (e.g. "exp.yaml: runtime.device") with a HINT
// for an unknown value, CUDA requested where LibTorch has none or no device is visible, or an
// index beyond the visible devices.
std::string resolve_device(const std::string& requested, const DeviceInventory& inventory,
                           const World& world, const std::string& where = "runtime.device");

}  // namespace xai
