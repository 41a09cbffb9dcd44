// The single-process communicator, launcher detection, and byte packing.
#include <gtest/gtest.h>

#include <cstdlib>

#include "framework/dist/communicator.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

TEST(LocalCommunicator, CollectivesOfOneRankReturnTheInput) {
  LocalCommunicator c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.backend(), "local");
  c.barrier();
  std::string b = "abc";
  c.broadcast(b, 0);
  EXPECT_EQ(b, "abc");
  EXPECT_EQ(c.allgatherv(std::string("xy")), (std::vector<std::string>{"xy"}));
  EXPECT_EQ(c.allgatherv(std::string()), (std::vector<std::string>{""}));
  EXPECT_EQ(c.allgatherv(std::vector<int64_t>{1, 2}), (std::vector<std::vector<int64_t>>{{1, 2}}));
  EXPECT_EQ(c.gather("q", 0), (std::vector<std::string>{"q"}));
  EXPECT_EQ(c.allgather(int64_t{5}), (std::vector<int64_t>{5}));
  EXPECT_EQ(c.allreduce_value(int64_t{7}, ReduceOp::kSum), 7);
  EXPECT_EQ(c.allreduce_value(2.5, ReduceOp::kMax), 2.5);
  const World w = c.world();
  EXPECT_EQ(w.size, 1);
  EXPECT_TRUE(w.is_root());
  test::expect_error([&] { c.gather("q", 1); }, {"root 1"});
}

TEST(Communicator, PlainLaunchIsNotMpi) {
  // ctest does not run this under a launcher; XAI_MPI=0 forces the local world anyway.
  ::setenv("XAI_MPI", "0", 1);
  EXPECT_EQ(launched_world_size(), 0);
  EXPECT_EQ(make_communicator()->backend(), "local");
  ::unsetenv("XAI_MPI");
}

TEST(PackStrings, RoundTripsEmptyAndBinaryItems) {
  const std::vector<std::string> items = {"", "a\tb\n", std::string("\0\1", 2), "", "last"};
  EXPECT_EQ(unpack_strings(pack_strings(items)), items);
  EXPECT_TRUE(unpack_strings("").empty());
  std::string damaged = pack_strings({"hello"});
  damaged.pop_back();
  test::expect_error([&] { unpack_strings(damaged); }, {"overruns"});
}

}  // namespace
}  // namespace xai

namespace xai {
namespace {

TEST(Communicator, BuildWithoutMpiRefusesToRunAsOneOfSeveralRanks) {
  if (mpi_built()) GTEST_SKIP() << "this build has MPI";
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  test::expect_error([] { make_communicator(); }, {"built without MPI", "2 ranks"});
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
  EXPECT_EQ(make_communicator()->backend(), "local");  // mpirun -n 1: a world of one
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
}

}  // namespace
}  // namespace xai
