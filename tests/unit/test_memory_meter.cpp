// An explanation's peak memory is its own: not the pages of a memory-mapped checkpoint that it
// happens to touch first (issue: the first explainer of a process read 560 MB on a 513 MB model).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "framework/common/host_memory.h"
#include "framework/common/mapped_file.h"
#include "framework/config/config.h"
#include "framework/io/results_reader.h"
#include "framework/model/model.h"
#include "framework/model/model_spec.h"
#include "framework/run/memory_meter.h"
#include "methods/explainer.h"
#include "run_util.h"
#include "test_util.h"
#include "tests/unit/method_samples.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr int64_t kMB = 1 << 20;

TEST(MemoryMeter, PagesOfAMappedFileReadMeanwhileAreNotCounted) {
  TempDir dir;
  const std::string path = dir.file("weights.bin");
  test::write_file(path, std::string(static_cast<size_t>(48 * kMB), '\x5a'));
  auto mapped = MappedFile::open(path);

  MemoryMeter meter;
  meter.start();
  mapped->prefault();  // 48 MB of file pages become resident in this process
  {
    std::vector<char> work(static_cast<size_t>(16 * kMB));  // 16 MB of the work's own memory
    std::memset(work.data(), 1, work.size());
    EXPECT_EQ(work[work.size() / 2], 1);
  }
  const int64_t peak = meter.peak_extra_bytes();
  EXPECT_GE(peak, 15 * kMB) << "the work's own memory is counted";
  EXPECT_LT(peak, 28 * kMB) << "the mapped file's pages are not the work's memory";
}

TEST(MemoryMeter, TheFirstAndSecondExplanationOfARunReportTheSamePeak) {
  // A GPT-2 shape with ~30 MB of weights, saved as a checkpoint the run maps.
  TempDir dir;
  const std::string model_dir = dir.file("model");
  ModelSpec spec = read_model_config(test::fixture("models/gpt2/config.json"));
  spec.vocab_size = 16384;
  spec.hidden_size = 256;
  spec.num_heads = 4;
  spec.num_kv_heads = 4;
  spec.head_dim = 64;
  spec.intermediate_size = 1024;
  spec.num_layers = 4;
  save_model(model_dir, spec, init_weights(spec, 0.02, 7));
  fs::copy_file(test::fixture("models/gpt2/tokenizer.json"), model_dir + "/tokenizer.json");
  const int64_t weights = static_cast<int64_t>(fs::file_size(model_dir + "/model.safetensors"));
  ASSERT_GT(weights, 25 * kMB);

  const RunResult r = test::run_at_root(
      "tests/fixtures/experiments/tiny.yaml",
      {"output=" + dir.file("out"), "models=[{name: big, path: " + model_dir + "}]",
       "dataset.limit=4", "explainers=[{name: input_x_gradient}]"});
  ResultsReader reader(r.results_h5);
  const ExplainerTable t = reader.explainer("big", "input_x_gradient");
  const std::vector<double> peaks = t.cost.at("peak_bytes");
  ASSERT_EQ(peaks.size(), 4u);
  const double lo = *std::min_element(peaks.begin(), peaks.end());
  const double hi = *std::max_element(peaks.begin(), peaks.end());
  EXPECT_LT(hi, static_cast<double>(weights) / 3) << "a peak includes paging in the weights";
  EXPECT_LT(hi - lo, 4.0 * kMB + 0.25 * lo)
      << "samples of one method differ: " << lo << " .. " << hi;
}

// The tensor yardstick: every LibTorch CPU allocation is counted, the live bytes and their peak
// exactly, and the same explanation run again peaks at the same byte count (resident memory,
// which also holds what the C library keeps cached, need not).
TEST(MemoryMeter, TensorBytesAreCountedExactlyAndRepeatably) {
  MemoryMeter::count_tensor_allocations();
  ASSERT_TRUE(MemoryMeter::counting_tensors());
  MemoryMeter meter;
  meter.start();
  const int64_t live = MemoryMeter::live_tensor_bytes();
  {
    const at::Tensor a = at::empty({10 * kMB}, at::kByte);
    EXPECT_EQ(MemoryMeter::live_tensor_bytes() - live, 10 * kMB);
    const at::Tensor b = at::ones({kMB}, at::kFloat);  // 4 MB
    EXPECT_EQ(MemoryMeter::live_tensor_bytes() - live, 14 * kMB);
  }
  { const at::Tensor c = at::empty({6 * kMB}, at::kByte); }
  EXPECT_EQ(MemoryMeter::live_tensor_bytes(), live);
  EXPECT_EQ(meter.peak_tensor_extra_bytes(), 14 * kMB);

  auto model = load_model(test::fixture("models/gpt2"));
  at::manual_seed(4);
  const at::Tensor ids = at::randint(3, model->spec().vocab_size, {24}, at::kLong);
  const Encoded sample = test::make_sample(ids.slice(0, 0, 23), 20, ids.slice(0, 20));
  for (const char* method : {"atman", "chefer"}) {
    Config cfg = Config::parse("{}", "test");
    auto x = make_explainer(method, cfg.root());
    std::vector<int64_t> peaks;
    for (int i = 0; i < 3; ++i) {  // the first also makes one-time tables (kernel choices)
      ExplainContext ctx;
      meter.start();
      x->explain(*model, sample, ctx);
      peaks.push_back(meter.peak_tensor_extra_bytes());
    }
    EXPECT_GT(peaks[1], 100 * 1024) << method;
    EXPECT_EQ(peaks[1], peaks[2]) << method;
  }
}

// runtime.host_memory: compact: tensors from 64 KB up are mapped from the OS and go back to it
// when freed, so resident memory follows the live tensors. Tensors of 1 MB freed between small
// blocks that stay alive would be holes in the heap (resident) under the fast mode's 8 MB
// threshold; under compact they leave nothing behind.
TEST(HostMemory, CompactModeGivesFreedTensorsBackToTheSystem) {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) {
    GTEST_SKIP() << "MALLOC_MMAP_THRESHOLD_ is set: glibc's own threshold wins";
  }
  EXPECT_EQ(host_mmap_threshold(HostMemory::kCompact), 64u << 10);
  EXPECT_EQ(host_mmap_threshold(HostMemory::kFast), 8u << 20);
  // In a fresh process (the heap of one that ran other tests already holds free blocks that
  // malloc reuses before it maps new ones), as the run sets the mode before its first tensor.
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  const auto child = [] {
    tune_host_allocator(HostMemory::kCompact);
    const int64_t before = MemoryMeter::resident_bytes();
    std::vector<at::Tensor> big, small;
    for (int i = 0; i < 48; ++i) {
      big.push_back(at::ones({kMB / 4}, at::kFloat));  // 1 MB, every page touched
      small.push_back(at::ones({16}, at::kFloat));     // stays alive between them
    }
    const int64_t during = MemoryMeter::resident_bytes();
    big.clear();
    const int64_t after = MemoryMeter::resident_bytes();
    const bool ok = host_memory_mode() == HostMemory::kCompact && during - before > 40 * kMB &&
                    after - before < 4 * kMB;
    std::fprintf(stderr, "grew %lld MB, kept %lld MB\n",
                 static_cast<long long>((during - before) / kMB),
                 static_cast<long long>((after - before) / kMB));
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(child(), testing::ExitedWithCode(0), "grew");
}

}  // namespace
}  // namespace xai
