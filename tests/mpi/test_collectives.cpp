// The MPI communicator's collectives, run by CTest under `mpiexec -n 2` and `-n 3` (odd sizes,
// ranks that contribute nothing). Every rank runs every test; a failure on any rank fails the run.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>

#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"
#include "framework/dist/rendezvous.h"

namespace xai {
namespace {

Communicator* g_comm = nullptr;  // set by main for the whole process

// Rank r contributes r bytes 'a'+r (rank 0: nothing).
std::string bytes_of(int r) {
  return std::string(static_cast<size_t>(r), static_cast<char>('a' + r));
}

TEST(MpiCollectives, WorldMatchesTheLauncher) {
  Communicator& c = *g_comm;
  EXPECT_EQ(c.backend(), "mpi");
  EXPECT_EQ(c.size(), launched_world_size());
  EXPECT_GE(c.local_size(), 1);
  EXPECT_LT(c.local_rank(), c.local_size());
  // One machine in CTest: every rank is on the same node, local rank = rank.
  EXPECT_EQ(c.local_size(), c.size());
  EXPECT_EQ(c.local_rank(), c.rank());
  const World w = c.world();
  EXPECT_EQ(w.rank, c.rank());
  c.barrier();
}

TEST(MpiCollectives, BroadcastFromEveryRootIncludingEmpty) {
  Communicator& c = *g_comm;
  for (int root = 0; root < c.size(); ++root) {
    std::string b = c.rank() == root ? "from " + std::to_string(root) : "junk that is longer";
    c.broadcast(b, root);
    EXPECT_EQ(b, "from " + std::to_string(root));
    std::string e = c.rank() == root ? "" : "x";
    c.broadcast(e, root);
    EXPECT_EQ(e, "");
  }
}

TEST(MpiCollectives, AllgathervOfUnequalAndEmptyContributions) {
  Communicator& c = *g_comm;
  const auto all = c.allgatherv(bytes_of(c.rank()));
  ASSERT_EQ(static_cast<int>(all.size()), c.size());
  for (int r = 0; r < c.size(); ++r) EXPECT_EQ(all[r], bytes_of(r));
  const auto none = c.allgatherv(std::string());
  for (const auto& s : none) EXPECT_TRUE(s.empty());

  std::vector<int64_t> mine(static_cast<size_t>(c.rank()));
  std::iota(mine.begin(), mine.end(), int64_t{100} * c.rank());
  const auto ints = c.allgatherv(mine);
  ASSERT_EQ(static_cast<int>(ints.size()), c.size());
  for (int r = 0; r < c.size(); ++r) {
    ASSERT_EQ(ints[r].size(), static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) EXPECT_EQ(ints[r][i], 100 * r + i);
  }
  EXPECT_EQ(c.allgather(int64_t{c.rank()} * 3).back(), int64_t{c.size() - 1} * 3);
}

TEST(MpiCollectives, GatherToEachRoot) {
  Communicator& c = *g_comm;
  for (int root = 0; root < c.size(); ++root) {
    const auto got = c.gather(bytes_of(c.rank()), root);
    if (c.rank() != root) {
      EXPECT_TRUE(got.empty());
      continue;
    }
    ASSERT_EQ(static_cast<int>(got.size()), c.size());
    for (int r = 0; r < c.size(); ++r) EXPECT_EQ(got[r], bytes_of(r));
  }
}

TEST(MpiCollectives, AllreduceSumMaxMin) {
  Communicator& c = *g_comm;
  const int n = c.size();
  std::vector<int64_t> v = {c.rank(), 1, -c.rank()};
  c.allreduce(v, ReduceOp::kSum);
  EXPECT_EQ(v, (std::vector<int64_t>{n * (n - 1) / 2, n, -n * (n - 1) / 2}));
  std::vector<double> d = {0.5 * c.rank(), -1.0 * c.rank()};
  c.allreduce(d, ReduceOp::kMax);
  EXPECT_EQ(d, (std::vector<double>{0.5 * (n - 1), 0.0}));
  EXPECT_EQ(c.allreduce_value(int64_t{c.rank()}, ReduceOp::kMin), 0);
  std::vector<double> empty;
  c.allreduce(empty, ReduceOp::kSum);  // zero elements is fine
  EXPECT_TRUE(empty.empty());
}

TEST(MpiCollectives, SplitIntoGroupsOfTwoConsecutiveRanks) {
  Communicator& c = *g_comm;
  auto g = c.split(c.rank() / 2, c.rank());
  EXPECT_EQ(g->backend(), "mpi");
  EXPECT_EQ(g->rank(), c.rank() % 2);
  EXPECT_EQ(g->size(), std::min(2, c.size() - c.rank() / 2 * 2));
  // A sum inside the group sees only the group's ranks.
  EXPECT_EQ(g->allreduce_value(int64_t{c.rank()}, ReduceOp::kSum),
            g->size() == 2 ? 2 * (c.rank() / 2 * 2) + 1 : c.rank());
  c.barrier();
}

// A fresh temporary directory made by rank 0, its path on every rank ("" if it could not be made).
std::string shared_temp_dir(Communicator& c) {
  std::string dir;
  if (c.rank() == 0) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "xai-rdv-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) dir = tmpl;
  }
  c.broadcast(dir, 0);
  return dir;
}

// The NCCL id's path: from each root to the others, over MPI and through a shared directory
// (the file rendezvous, no MPI call in the exchange itself).
TEST(MpiCollectives, ShareFromRootByBroadcastAndThroughAFile) {
  Communicator& c = *g_comm;
  const std::string dir = shared_temp_dir(c);
  ASSERT_FALSE(dir.empty());
  for (int root = 0; root < c.size(); ++root) {
    const std::string blob = std::string("id\0of ", 6) + std::to_string(root);
    const std::string mine = c.rank() == root ? blob : "";
    EXPECT_EQ(share_from_root(c, root, mine, RendezvousOptions{}), blob);
    RendezvousOptions file;
    file.dir = dir;
    file.name = "xai-nccl-id.test." + std::to_string(root);
    file.timeout_seconds = 60;
    EXPECT_EQ(share_from_root(c, root, mine, file), blob);
    c.barrier();  // everyone has read it
    if (c.rank() == root) remove_blob(file);
  }
  c.barrier();
  if (c.rank() == 0) std::filesystem::remove_all(dir);
}

// Needs one GPU per rank (NCCL refuses two ranks on one GPU); skipped elsewhere.
TEST(MpiCollectives, NcclSumsAcrossRanksOnTheirGpus) {
  Communicator& c = *g_comm;
  const int gpus =
      static_cast<int>(c.allreduce_value(int64_t{cuda_runtime_devices()}, ReduceOp::kMin));
  if (!nccl_built()) GTEST_SKIP() << "built without NCCL";
  if (gpus < c.local_size()) {
    GTEST_SKIP() << gpus << " GPU(s) visible, " << c.local_size() << " ranks on the node";
  }
  for (const bool through_file : {false, true}) {
    RendezvousOptions rdv;
    if (through_file) {
      const std::string dir = shared_temp_dir(c);
      ASSERT_FALSE(dir.empty());
      rdv.dir = dir;
      rdv.name = "xai-nccl-id.mpitest.0";
    }
    auto nccl = make_nccl_communicator(c, c.local_rank(), rdv);
    EXPECT_EQ(nccl->size(), c.size());
    std::vector<double> v = {1.0 * c.rank(), 1.0};
    nccl->allreduce_host(v, ReduceOp::kSum);
    EXPECT_EQ(v, (std::vector<double>{c.size() * (c.size() - 1) / 2.0, 1.0 * c.size()}));
    c.barrier();
  }
}

}  // namespace
}  // namespace xai

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = xai::make_communicator();
  xai::g_comm = comm.get();
  int failed = RUN_ALL_TESTS();
  // Every rank learns whether any failed, so the launcher sees one verdict.
  failed = static_cast<int>(comm->allreduce_value(int64_t{failed != 0}, xai::ReduceOp::kMax));
  return failed;
}
