// runtime.device resolution without a GPU: every case is a pure function of the request, the
// inventory (CUDA built, devices visible) and the rank's place (World).
#include <gtest/gtest.h>

#include "framework/dist/device.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;

const DeviceInventory kNoCuda{false, 0};
const DeviceInventory kCudaNoDevice{true, 0};
const DeviceInventory kFourGpus{true, 4};

TEST(ResolveDevice, CpuIsAlwaysCpu) {
  EXPECT_EQ(resolve_device("cpu", kNoCuda, World{}), "cpu");
  EXPECT_EQ(resolve_device("cpu", kFourGpus, World::make(8, 5, 8, 5)), "cpu");
}

TEST(ResolveDevice, AutoFallsBackToCpuWithoutCudaOrWithoutDevices) {
  EXPECT_EQ(resolve_device("auto", kNoCuda, World{}), "cpu");
  EXPECT_EQ(resolve_device("auto", kCudaNoDevice, World::make(2, 1, 2, 1)), "cpu");
}

TEST(ResolveDevice, AutoAndCudaGiveEachLocalRankItsOwnGpu) {
  // 8 ranks on 2 nodes of 4 ranks, 4 GPUs per node: local rank r drives cuda:r.
  for (int r = 0; r < 8; ++r) {
    const World w = World::make(8, r, 4, r % 4);
    EXPECT_EQ(resolve_device("auto", kFourGpus, w), "cuda:" + std::to_string(r % 4)) << r;
    EXPECT_EQ(resolve_device("cuda", kFourGpus, w), "cuda:" + std::to_string(r % 4)) << r;
  }
  // 6 ranks on one node with 4 GPUs share them round-robin.
  EXPECT_EQ(resolve_device("cuda", kFourGpus, World::make(6, 5, 6, 5)), "cuda:1");
  // The scheduler shows each rank one GPU (--gpus-per-task=1): every rank uses its device 0.
  EXPECT_EQ(resolve_device("cuda", DeviceInventory{true, 1}, World::make(4, 3, 4, 3)), "cuda:0");
}

TEST(ResolveDevice, ExplicitIndexIsKeptOnEveryRank) {
  EXPECT_EQ(resolve_device("cuda:2", kFourGpus, World::make(4, 1, 4, 1)), "cuda:2");
  EXPECT_EQ(resolve_device("cuda:0", kFourGpus, World{}), "cuda:0");
}

TEST(ResolveDevice, CudaWithoutCudaBuildIsAOneLineErrorNamingTheField) {
  expect_error([] { resolve_device("cuda", kNoCuda, World{}, "x.yaml: runtime.device"); },
               {"x.yaml: runtime.device: 'cuda' needs CUDA, but this xai's LibTorch was built "
                "without it"});
  expect_error([] { resolve_device("cuda:0", kNoCuda, World{}); }, {"HINT: use 'auto' or 'cpu'"});
}

TEST(ResolveDevice, CudaWithoutVisibleDeviceIsAnErrorWithAHint) {
  expect_error([] { resolve_device("cuda", kCudaNoDevice, World{}); },
               {"runtime.device: 'cuda' needs a GPU, but none is visible"});
  expect_error([] { resolve_device("cuda", kCudaNoDevice, World{}); }, {"CUDA_VISIBLE_DEVICES"});
}

TEST(ResolveDevice, IndexBeyondTheVisibleDevicesIsAnError) {
  expect_error([] { resolve_device("cuda:4", kFourGpus, World{}); },
               {"runtime.device: 'cuda:4' but only 4 GPU(s) are visible (cuda:0..cuda:3)"});
}

TEST(ResolveDevice, UnknownValuesAreErrors) {
  for (const char* bad : {"gpu", "CUDA", "cuda:", "cuda:-1", "cuda:1x", "mps", ""}) {
    expect_error([&] { resolve_device(bad, kFourGpus, World{}); },
                 {"is not a device (HINT: use auto, cpu, cuda or cuda:N)"});
  }
}

}  // namespace
}  // namespace xai
