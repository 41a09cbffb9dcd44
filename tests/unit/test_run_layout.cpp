// The run's layout as a value: which replica, perturbation group and tensor rank each rank is,
// who records and who runs the methods that do not split perturbations (sample_loop.h).
#include <gtest/gtest.h>

#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"
#include "framework/dist/world.h"
#include "framework/run/sample_loop.h"

namespace xai {
namespace {

TEST(RunLayout, RanksAreTensorRanksOfReplicasOfPerturbationGroups) {
  // 8 ranks = 2 perturbation groups x 2 replicas x parallel.tensor 2.
  const int group[] = {0, 0, 0, 0, 1, 1, 1, 1};
  const int member[] = {0, 0, 1, 1, 0, 0, 1, 1};
  const int tp[] = {0, 1, 0, 1, 0, 1, 0, 1};
  for (int r = 0; r < 8; ++r) {
    const RunLayout l = layout_of(World::make(8, r, 4, r % 4, 2, "test"), 2);
    EXPECT_EQ(l.groups, 2);
    EXPECT_EQ(l.group, group[r]) << r;
    EXPECT_EQ(l.member, member[r]) << r;
    EXPECT_EQ(l.world.tp_rank(), tp[r]) << r;
    EXPECT_EQ(l.world.replica(), r / 2) << r;
    EXPECT_EQ(l.runs_every_method, member[r] == 0) << r;
    EXPECT_EQ(l.group_root, member[r] == 0 && tp[r] == 0) << r;
  }
  EXPECT_EQ(layout_of(World::make(8, 5, 4, 1, 2, "test"), 2).describe(),
            "rank 5/8: group 1/2, replica 0 of 2, tensor rank 1 of 2");
  // Without tensor parallelism: the layout of parallel.perturbation alone.
  const RunLayout p = layout_of(World::make(6, 4, 6, 4, 1, "test"), 3);
  EXPECT_EQ(p.groups, 2);
  EXPECT_EQ(p.group, 1);
  EXPECT_EQ(p.member, 1);
  EXPECT_FALSE(p.group_root);
  // Only tensor parallelism: every replica is its own group; only tensor rank 0 records.
  const RunLayout t = layout_of(World::make(4, 3, 4, 3, 2, "test"), 1);
  EXPECT_EQ(t.groups, 2);
  EXPECT_EQ(t.group, 1);
  EXPECT_TRUE(t.runs_every_method);
  EXPECT_FALSE(t.group_root);
}

}  // namespace
}  // namespace xai
