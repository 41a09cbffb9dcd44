// The file rendezvous that carries an NCCL unique id when MPI cannot: an opaque blob (binary,
// with NUL bytes) from the root to waiting ranks, atomic publication, a bounded wait with an
// error naming the file. Threads play the ranks; the MPI tests run it across processes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "framework/dist/device_collectives.h"
#include "framework/dist/rendezvous.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;

std::string binary_blob() {
  std::string b(128, '\0');  // the size of an ncclUniqueId
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>((i * 37) % 256);
  return b;
}

TEST(Rendezvous, WaitersGetTheRootsBlobPublishedLater) {
  TempDir dir;
  RendezvousOptions o;
  o.dir = dir.path();
  o.name = "xai-nccl-id.test.0";
  o.timeout_seconds = 20;
  o.poll_seconds = 0.01;
  const std::string blob = binary_blob();
  std::vector<std::string> got(3);
  std::vector<std::thread> waiters;
  for (int r = 1; r <= 3; ++r) {
    waiters.emplace_back([&, r] { got[r - 1] = share_through_file(false, "ignored", o); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the waiters poll first
  EXPECT_EQ(share_through_file(true, blob, o), blob);
  for (auto& t : waiters) t.join();
  for (const auto& g : got) EXPECT_EQ(g, blob);
  // Published atomically: only the final file, no temporary left behind.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{o.name});
  remove_blob(o);
  EXPECT_FALSE(std::filesystem::exists(dir.file(o.name)));
  remove_blob(o);  // removing twice is fine
}

TEST(Rendezvous, AWaiterGivesUpAfterTheTimeoutNamingTheFile) {
  TempDir dir;
  RendezvousOptions o;
  o.dir = dir.path();
  o.name = "xai-nccl-id.job.3";
  o.timeout_seconds = 0.3;
  const auto t0 = std::chrono::steady_clock::now();
  expect_error([&] { share_through_file(false, "", o); },
               {dir.file("xai-nccl-id.job.3").c_str(), "did not publish", "within 0.3 s", "HINT",
                "XAI_NCCL_RENDEZVOUS"});
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 0.3);
  EXPECT_LT(waited, 5.0);
}

TEST(Rendezvous, AForeignFileAndAMissingDirectoryAreErrors) {
  TempDir dir;
  test::write_file(dir.file("x"), "not a rendezvous file");
  expect_error([&] { wait_for_blob(dir.file("x"), 1); }, {"is not an xai rendezvous file", "HINT"});
  RendezvousOptions o;
  o.dir = dir.file("missing");
  expect_error([&] { share_through_file(true, "b", o); },
               {"missing: the rendezvous directory does not exist", "HINT"});
}

TEST(Rendezvous, BroadcastWhenNoDirectoryIsGiven) {
  LocalCommunicator one;
  EXPECT_EQ(share_from_root(one, 0, "blob", RendezvousOptions{}), "blob");
}

TEST(Rendezvous, FileNamesCarryTheJobAndTheGroup) {
  ::setenv("SLURM_JOB_ID", "4242", 1);
  ::setenv("SLURM_STEP_ID", "7", 1);
  EXPECT_EQ(rendezvous_file_name("nccl-id", 3), "xai-nccl-id.4242-7.3");
  ::unsetenv("SLURM_JOB_ID");
  ::unsetenv("SLURM_STEP_ID");
  ::setenv("XAI_NCCL_RENDEZVOUS", "/shared/rdv", 1);
  const RendezvousOptions o = nccl_rendezvous_from_env(1);
  ::unsetenv("XAI_NCCL_RENDEZVOUS");
  EXPECT_EQ(o.dir, "/shared/rdv");
  EXPECT_EQ(o.name.rfind("xai-nccl-id.", 0), 0u);
  EXPECT_EQ(o.name.substr(o.name.size() - 2), ".1");
  EXPECT_TRUE(nccl_rendezvous_from_env(0).dir.empty());
}

// NCCL on one rank; the multi-rank checks are in tests/mpi (they need a GPU per rank).
TEST(NcclCommunicator, WithoutAGpuIsAOneLineErrorWithAHint) {
  if (!nccl_built()) GTEST_SKIP() << "built without NCCL";
  if (cuda_runtime_devices() > 0) GTEST_SKIP() << "a GPU is visible (see OneRankSumsOnTheGpu)";
  LocalCommunicator one;
  expect_error([&] { make_nccl_communicator(one, 0, RendezvousOptions{}); }, {"CUDA", "HINT"});
}

TEST(NcclCommunicator, OneRankSumsOnTheGpu) {
  if (!nccl_built()) GTEST_SKIP() << "built without NCCL";
  if (cuda_runtime_devices() == 0) GTEST_SKIP() << "no GPU visible to the CUDA runtime";
  LocalCommunicator one;
  auto nccl = make_nccl_communicator(one, 0, RendezvousOptions{});
  EXPECT_EQ(nccl->backend(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  std::vector<double> v = {1.5, -2.0, 3.25};
  nccl->allreduce_host(v, ReduceOp::kSum);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2.0, 3.25}));
}

}  // namespace
}  // namespace xai
