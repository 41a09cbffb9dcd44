// Thread counts from the command line and the YAML: at least 1, at most the usable cores.
#include <gtest/gtest.h>

#include "framework/common/error.h"
#include "framework/common/threads.h"

namespace xai {
namespace {

TEST(Threads, ZeroAndNegativeAreErrorsNamingTheOption) {
  for (int64_t n : {0, -1, -100000}) {
    try {
      choose_threads(n, "explain: --threads");
      ADD_FAILURE() << "expected an error for " << n;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("explain: --threads must be at least 1"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Threads, MoreThanTheCoresIsCutToTheCoresWithAWarning) {
  const int cores = usable_cores();
  ASSERT_GE(cores, 1);
  const ThreadChoice many = choose_threads(100000, "--threads");
  EXPECT_EQ(many.threads, cores);
  EXPECT_NE(many.warning.find("--threads 100000 is more than the"), std::string::npos)
      << many.warning;
  const ThreadChoice one = choose_threads(1, "--threads");
  EXPECT_EQ(one.threads, 1);
  EXPECT_TRUE(one.warning.empty());
  const ThreadChoice all = choose_threads(cores, "--threads");
  EXPECT_EQ(all.threads, cores);
  EXPECT_TRUE(all.warning.empty());
}

TEST(Threads, TheCpuModelIsNamedWithoutPadding) {
  const std::string name = cpu_model_name();
  ASSERT_FALSE(name.empty());
  EXPECT_NE(name.front(), ' ');
  EXPECT_EQ(name.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace xai
