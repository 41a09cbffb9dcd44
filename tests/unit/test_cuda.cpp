// On a GPU (skipped without one): every family's fixture model on cuda against the same model on
// the CPU, and every explainer on cuda against the CPU, in float32, within tolerances that allow
// the GPU's different summation order (TF32 off). bfloat16 and float16 on cuda against float32 on
// the CPU, looser. scripts/gpu_check.sh runs these on the GPU machine.
#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdlib>

#include "framework/config/config.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"
#include "framework/model/model.h"
#include "framework/model/tensor_parallel.h"
#include "methods/explainer.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

// The device compared with the CPU: cuda:0, or XAI_CUDA_TEST_DEVICE (=cpu checks this test's own
// arithmetic on a machine without a GPU).
at::Device test_device() {
  const char* d = std::getenv("XAI_CUDA_TEST_DEVICE");
  return at::Device(d != nullptr && *d != 0 ? d : "cuda:0");
}

bool have_gpu() {
  return test_device().is_cpu() || (at::hasCUDA() && torch::cuda::device_count() > 0);
}

double relative_max_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.to(at::kCPU, at::kDouble), w = want.to(at::kCPU, at::kDouble);
  const at::Tensor finite = w.isfinite();
  const double scale = std::max(1e-12, w.masked_select(finite).abs().max().item<double>());
  return (g - w).masked_select(finite).abs().max().item<double>() / scale;
}

class CudaTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device (LibTorch without CUDA, or no GPU visible)";
    at::globalContext().setFloat32MatmulPrecision("highest");  // no TF32
  }
  std::unique_ptr<Model> load(const at::Device& device,
                              c10::optional<at::ScalarType> dtype = at::kFloat) {
    LoadOptions o;
    o.device = device;
    o.dtype = dtype;
    return load_model(test::fixture("models/" + GetParam()), o);
  }
};

TEST_P(CudaTest, LogitsMatchTheCpu) {
  auto cpu = load(at::kCPU), gpu = load(test_device());
  at::manual_seed(1);
  const at::Tensor ids = at::randint(3, cpu->spec().vocab_size, {2, 24}, at::kLong);
  ForwardRequest req;
  req.input_ids = ids;
  at::NoGradGuard ng;
  const at::Tensor want = cpu->forward(req).logits;
  req.input_ids = ids.to(test_device());
  const at::Tensor got = gpu->forward(req).logits;
  EXPECT_EQ(got.device().type(), test_device().type());
  EXPECT_LT(relative_max_error(got, want), 1e-4) << GetParam();
  if (test_device().is_cpu()) return;  // float16/bfloat16 GPU kernels: the GPU's own check
  // Half precision on the GPU against float32 on the CPU: bfloat16 keeps 8 bits of mantissa,
  // float16 11, so float16 lands about 8x closer (softmax, norms and logits in float32 in both).
  auto bf16 = load(test_device(), at::kBFloat16);
  EXPECT_EQ(bf16->dtype(), at::kBFloat16);
  EXPECT_LT(relative_max_error(bf16->forward(req).logits, want), 5e-2) << GetParam();
  auto fp16 = load(test_device(), at::kHalf);
  EXPECT_EQ(fp16->dtype(), at::kHalf);
  const at::Tensor half_logits = fp16->forward(req).logits;
  EXPECT_EQ(half_logits.scalar_type(), at::kFloat);
  EXPECT_LT(relative_max_error(half_logits, want), 1e-2) << GetParam();
}

TEST_P(CudaTest, EveryExplainerMatchesTheCpu) {
  auto cpu = load(at::kCPU), gpu = load(test_device());
  at::manual_seed(2);
  const at::Tensor ids = at::randint(3, cpu->spec().vocab_size, {20}, at::kLong);
  const Encoded s = test::make_sample(ids.slice(0, 0, 19), 17, ids.slice(0, 17));
  for (const std::string& method : explainer_methods()) {
    // Short integrals: the comparison is of the arithmetic, not of convergence.
    const std::string yaml = method == "integrated_gradients" ? "{steps: 8}"
                             : method == "attattr"            ? "{steps: 4}"
                                                              : "{}";
    Config cfg = Config::parse(yaml, "test");
    auto x = make_explainer(method, cfg.root());
    ExplainContext ctx;
    const Explanation want = x->explain(*cpu, s, ctx);
    const Explanation got = x->explain(*gpu, s, ctx);
    if (method == "random") {
      EXPECT_TRUE(at::equal(got.relevance.to(at::kCPU), want.relevance)) << method;
      continue;
    }
    EXPECT_LT(relative_max_error(got.relevance, want.relevance), 2e-3)
        << GetParam() << " " << method;
    EXPECT_LT(relative_max_error(got.per_target, want.per_target), 2e-3)
        << GetParam() << " " << method;
  }
}

// Tensor parallelism's collectives on GPU tensors through NCCL (the path a multi-GPU group
// takes), in a group of one rank: the sums, maximum and gathers of float32, float64 and bfloat16
// tensors come back as they went, on the GPU, in their dtype. The CPU path (MPI) over a
// LocalCommunicator alike. scripts/gpu_check.sh runs it (the *Nccl* filter) on the GPU machine.
TEST(NcclTensorGroup, OneRankReducesAndGathersGpuTensors) {
  LocalCommunicator one;
  std::unique_ptr<DeviceCollectives> nccl;
  at::Device device = at::kCPU;
  if (nccl_built() && cuda_runtime_devices() > 0 && at::hasCUDA()) {
    nccl = make_nccl_communicator(one, 0, RendezvousOptions{});
    device = at::Device("cuda:0");
  }
  const TensorGroup group(one, nccl.get());
  at::manual_seed(9);
  for (auto dtype : {at::kFloat, at::kDouble, at::kBFloat16}) {
    const at::Tensor t = at::randn({3, 5}, at::TensorOptions().dtype(dtype)).to(device);
    for (const at::Tensor& got : {group.sum(t), group.max(t), group.gather(t, 1)}) {
      EXPECT_EQ(got.device(), device);
      EXPECT_EQ(got.scalar_type(), dtype);
      EXPECT_TRUE(at::equal(got.cpu(), t.cpu())) << dtype;
    }
  }
  EXPECT_EQ(group.elements_summed(), 45);
  EXPECT_EQ(group.elements_gathered(), 45);
  if (!nccl) GTEST_SKIP() << "checked on the CPU (MPI path); no GPU with NCCL for the NCCL path";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaTest,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "mistral", "gpt_neox",
                                           "gptj"));

}  // namespace
}  // namespace xai
