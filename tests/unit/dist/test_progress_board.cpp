// ProgressBoard: ranks post, rank 0 reads everyone's latest numbers.
#include <gtest/gtest.h>

#include "framework/dist/progress_board.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

TEST(ProgressBoard, RootReadsEveryRanksLatestPost) {
  test::TempDir dir;
  ProgressBoard r0(dir.path(), 0, 3, /*interval_s=*/1000), r2(dir.path(), 2, 3, 1000);
  r0.post(1, 5, false);
  r2.post(2, 4, false);
  r2.post(3, 4, false);  // within the interval: not posted
  auto all = r0.read();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0].seen);
  EXPECT_EQ(all[0].done, 1);
  EXPECT_EQ(all[0].total, 5);
  EXPECT_FALSE(all[1].seen);  // rank 1 has not posted
  EXPECT_EQ(all[2].done, 2);
  r2.post(4, 4, /*finished=*/true);  // finishing always posts
  all = r0.read();
  EXPECT_EQ(all[2].done, 4);
  EXPECT_TRUE(all[2].finished);
  r2.remove();
  EXPECT_FALSE(r0.read()[2].seen);
}

TEST(ProgressBoard, UnwritableFolderNamesTheFile) {
  ProgressBoard b("/nonexistent-xai-dir", 1, 2);
  test::expect_error([&] { b.post(1, 2, false, true); }, {"rank-00001.progress"});
}

}  // namespace
}  // namespace xai
