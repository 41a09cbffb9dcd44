// World layout: rank -> replica, tensor-parallel rank, device; validation of the numbers.
#include <gtest/gtest.h>

#include "framework/dist/world.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;

TEST(World, DefaultIsOneRankOnOneNode) {
  const World w;
  EXPECT_TRUE(w.is_root());
  EXPECT_EQ(w.replicas(), 1);
  EXPECT_EQ(w.replica(), 0);
  EXPECT_EQ(w.tp_rank(), 0);
  EXPECT_EQ(w.device(0), -1);  // CPU
  EXPECT_EQ(w.device(8), 0);
}

TEST(World, TensorGroupsAreConsecutiveRanks) {
  // 8 ranks on 2 nodes of 4, tensor-parallel groups of 2: replicas {0,1} {2,3} {4,5} {6,7}.
  const int expected_replica[] = {0, 0, 1, 1, 2, 2, 3, 3};
  for (int r = 0; r < 8; ++r) {
    const World w = World::make(8, r, 4, r % 4, 2);
    EXPECT_EQ(w.replicas(), 4);
    EXPECT_EQ(w.replica(), expected_replica[r]) << r;
    EXPECT_EQ(w.tp_rank(), r % 2) << r;
    EXPECT_EQ(w.tp_root(), r - r % 2) << r;
    EXPECT_EQ(w.device(4), r % 4) << r;
    EXPECT_TRUE(w.tp_groups_within_nodes());
  }
}

TEST(World, MoreRanksThanDevicesShareThemRoundRobin) {
  EXPECT_EQ(World::make(6, 5, 6, 5).device(4), 1);
  EXPECT_EQ(World::make(6, 3, 6, 3).device(1), 0);
}

TEST(World, GroupSpanningNodesIsReported) {
  EXPECT_FALSE(World::make(6, 0, 3, 0, 2).tp_groups_within_nodes());
}

TEST(World, InvalidNumbersNameTheField) {
  expect_error([] { World::make(0, 0, 1, 0); }, {"world size"});
  expect_error([] { World::make(4, 4, 1, 0); }, {"rank 4", "0..3"});
  expect_error([] { World::make(4, 1, 2, 2); }, {"local rank 2"});
  expect_error([] { World::make(4, 1, 5, 0); }, {"ranks per node"});
  expect_error([] { World::make(6, 1, 6, 1, 4, "parallel.tensor"); },
               {"parallel.tensor", "does not divide", "6"});
  expect_error([] { World::make(2, 0, 2, 0, 0); }, {"parallel.tensor must be >= 1"});
}

TEST(World, DescribeSaysEverything) {
  EXPECT_EQ(World::make(4, 3, 2, 1, 2).describe(), "rank 3/4 (local 1/2, replica 1/2, tp 1/2)");
}

}  // namespace
}  // namespace xai
