#include "framework/dist/device.h"

#include <cctype>

#include "framework/common/error.h"

namespace xai {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void require_cuda(const std::string& requested, const DeviceInventory& inv,
                  const std::string& where) {
  XAI_CHECK(inv.cuda_built, where, ": '", requested,
            "' needs CUDA, but this xai's LibTorch was built without it (HINT: use 'auto' or "
            "'cpu', or rebuild with a CUDA LibTorch: CMAKE_PREFIX_PATH=$(python3 -c 'import "
            "torch;print(torch.utils.cmake_prefix_path)'))");
  XAI_CHECK(inv.cuda_devices > 0, where, ": '", requested,
            "' needs a GPU, but none is visible to this process (HINT: check nvidia-smi and "
            "CUDA_VISIBLE_DEVICES, ask the scheduler for GPUs (--gpus-per-node), or use 'auto')");
}

}  // namespace

std::string resolve_device(const std::string& requested, const DeviceInventory& inventory,
                           const World& world, const std::string& where) {
  if (requested == "cpu") return "cpu";
  if (requested == "auto") {
    if (!inventory.cuda_built || inventory.cuda_devices <= 0) return "cpu";
    return "cuda:" + std::to_string(world.device(inventory.cuda_devices));
  }
  if (requested == "cuda") {
    require_cuda(requested, inventory, where);
    return "cuda:" + std::to_string(world.device(inventory.cuda_devices));
  }
  if (requested.rfind("cuda:", 0) == 0 && all_digits(requested.substr(5))) {
    require_cuda(requested, inventory, where);
    const int index = std::stoi(requested.substr(5));
    XAI_CHECK(index < inventory.cuda_devices, where, ": '", requested, "' but only ",
              inventory.cuda_devices,
              " GPU(s) are visible (cuda:0..cuda:", inventory.cuda_devices - 1,
              ") (HINT: use 'cuda' to give each rank its own GPU, or check CUDA_VISIBLE_DEVICES)");
    return "cuda:" + std::to_string(index);
  }
  throw Error(
      str_cat(where, ": '", requested, "' is not a device (HINT: use auto, cpu, cuda or cuda:N)"));
}

}  // namespace xai
