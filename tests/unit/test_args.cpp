#include "framework/common/args.h"

#include "tests/unit/test_util.h"

namespace xai::cli {
namespace {

TEST(Args, ParsesValuesFlagsAndPositionals) {
  Args a("predict", {"DIR", "--top", "3", "--json", "--prompt=a b"}, {"top", "prompt"}, {"json"});
  EXPECT_EQ(a.positional(), std::vector<std::string>{"DIR"});
  EXPECT_EQ(a.get_int("top", 5), 3);
  EXPECT_EQ(a.require("prompt"), "a b");
  EXPECT_TRUE(a.flag("json"));
  EXPECT_EQ(a.get_or("model", "none"), "none");
}

TEST(Args, RepeatedOptionsKeepEveryValue) {
  Args a("run", {"--set", "a=1", "--set=b.c=2", "x.yaml"}, {"set"}, {});
  EXPECT_EQ(a.get_all("set"), (std::vector<std::string>{"a=1", "b.c=2"}));
  EXPECT_EQ(a.get("set"), "b.c=2");
  EXPECT_TRUE(a.get_all("none").empty());
}

TEST(Args, UnknownOptionSuggestsTheNearestKnownOne) {
  test::expect_error(
      [] {
        Args("predict", {"--promt", "x"}, {"prompt", "top"}, {});
      },
      {"predict: unknown option --promt", "did you mean --prompt?"});
}

TEST(Args, MissingValueAndBadIntegerAreNamed) {
  test::expect_error([] { Args("predict", {"--top"}, {"top"}, {}); }, {"--top needs a value"});
  Args a("predict", {"--top", "3x"}, {"top"}, {});
  test::expect_error([&] { a.get_int("top", 1); }, {"--top must be an integer", "'3x'"});
  test::expect_error([&] { a.require("model"); }, {"--model is required"});
}

TEST(Args, NearestIgnoresFarWords) {
  EXPECT_EQ(nearest("inspect-modle", {"inspect-model", "predict"}), "inspect-model");
  EXPECT_EQ(nearest("zzzzzz", {"inspect-model", "predict"}), "");
}

}  // namespace
}  // namespace xai::cli
