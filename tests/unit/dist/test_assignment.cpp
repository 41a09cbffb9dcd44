// Sample assignment: balanced by cost, longest first, deterministic, and the set of work is the
// set given whatever the rank count.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "framework/dist/assignment.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

std::vector<WorkItem> random_items(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> len(1, 512);
  std::vector<WorkItem> items;
  for (int i = 0; i < n; ++i) items.push_back({"s" + std::to_string(i), len(rng)});
  return items;
}

TEST(Assignment, EveryItemGetsExactlyOneRankForAnyRankCount) {
  const auto items = random_items(101, 1);
  for (int ranks = 1; ranks <= 7; ++ranks) {
    const auto owner = assign_balanced(items, ranks);
    ASSERT_EQ(owner.size(), items.size());
    std::vector<int64_t> all;
    for (int r = 0; r < ranks; ++r) {
      const auto mine = owned_by(owner, r);
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(items.size());
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(all, expected) << ranks << " ranks";
  }
}

TEST(Assignment, LongestFirstToTheLeastLoadedRankLowestOnTies) {
  const std::vector<WorkItem> items = {{"a", 3}, {"b", 9}, {"c", 5}, {"d", 7}, {"e", 2}, {"f", 4}};
  const auto owner = assign_balanced(items, 2);
  // b(9)->0; d(7)->1; c(5)->1 (7 < 9: 12); f(4)->0 (9 < 12: 13); a(3)->1 (12 < 13: 15);
  // e(2)->0 (13 < 15: 15).
  EXPECT_EQ(owner, (std::vector<int>{1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(load_per_rank(items, owner, 2), (std::vector<int64_t>{15, 15}));
}

TEST(Assignment, EqualCostsAreDealtInIdOrderNotInputOrder) {
  const std::vector<WorkItem> forward = {{"x1", 4}, {"x2", 4}, {"x3", 4}};
  const std::vector<WorkItem> reversed = {{"x3", 4}, {"x2", 4}, {"x1", 4}};
  const auto a = assign_balanced(forward, 2), b = assign_balanced(reversed, 2);
  EXPECT_EQ(a, (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(b, (std::vector<int>{0, 1, 0}));  // x3 -> 0, x2 -> 1, x1 -> 0
}

TEST(Assignment, IsDeterministicAndBalanced) {
  const auto items = random_items(1000, 7);
  for (int ranks : {2, 3, 8}) {
    const auto owner = assign_balanced(items, ranks);
    EXPECT_EQ(owner, assign_balanced(items, ranks));
    const auto load = load_per_rank(items, owner, ranks);
    const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    // Greedy longest-first is within the largest item of perfect balance.
    EXPECT_LE(*hi - *lo, 512) << ranks << " ranks";
  }
}

TEST(Assignment, MoreRanksThanItemsLeavesSomeIdleAndNoneTwice) {
  const std::vector<WorkItem> items = {{"a", 1}, {"b", 0}, {"c", -5}};
  const auto owner = assign_balanced(items, 5);
  EXPECT_EQ(std::set<int>(owner.begin(), owner.end()).size(), 3u);
  EXPECT_TRUE(owned_by(owner, 4).empty());
  EXPECT_TRUE(assign_balanced({}, 3).empty());
  test::expect_error([] { assign_balanced({}, 0); }, {"rank count"});
}

}  // namespace
}  // namespace xai
