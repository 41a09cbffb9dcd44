// Config files: loading, `include:` (nested, relative, precedence, cycles) and file errors
// (fixtures in tests/fixtures/config/).
#include <chrono>

#include "tests/unit/config/config_test_util.h"

namespace xai {
namespace {

using config_test::contains;
using config_test::error_of;
using config_test::fixture;

TEST(Config, IncludesMergeNestedAndRelative) {
  // experiment.yaml includes shared/base.yaml (which includes ../common.yaml) and shared/data.yaml.
  Config c = Config::load(fixture("experiment.yaml"));
  ConfigNode r = c.root();
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"seed", "batch", "metrics", "model", "explainers",
                                                "dataset"}));
  EXPECT_EQ(r.get_int("seed", 0), 1);    // common.yaml only
  EXPECT_EQ(r.get_int("batch", 0), 16);  // base.yaml beats common.yaml, which it includes
  EXPECT_EQ(r.get_string_list("metrics", {}),
            (std::vector<std::string>{"aopc"}));  // lists are replaced, not merged
  ConfigNode model = r.child("model");
  EXPECT_EQ(model.get_string("path", ""), "models/gpt2");  // mappings merge key by key
  EXPECT_EQ(model.get_string("dtype", ""), "bfloat16");    // the including file wins
  EXPECT_EQ(r.children("explainers").at(0).get_string("name", ""), "atman");
  EXPECT_DOUBLE_EQ(r.children("explainers").at(0).get_double("kappa", 0), 0.7);
  EXPECT_EQ(r.child("dataset").get_int("limit", 0), 10);
  EXPECT_EQ(r.child("dataset").get_string("name", ""), "toy");
  EXPECT_FALSE(r.has("include"));  // consumed by the loader
  EXPECT_NO_THROW(c.finish_all());
}

TEST(Config, SourceNamesTheFileThatSetTheMapping) {
  Config c = Config::load(fixture("experiment.yaml"));
  ConfigNode r = c.root();
  EXPECT_EQ(r.source(), fixture("experiment.yaml"));
  EXPECT_EQ(r.child("model").source(),
            fixture("experiment.yaml"));  // both set it; the includer wins
  EXPECT_EQ(r.child("dataset").source(), fixture("shared/data.yaml"));
  EXPECT_EQ(r.children("explainers").at(0).source(), fixture("shared/base.yaml"));
}

TEST(Config, ErrorInIncludedValueNamesIncludedFileAndLine) {
  Config c = Config::load(fixture("experiment.yaml"));
  std::string msg = error_of([&] { c.root().children("explainers")[0].get_int("kappa", 0); });
  EXPECT_TRUE(contains(
      msg, fixture("shared/base.yaml") + ":9: explainers[0].kappa: expected an integer, got '0.7'"))
      << msg;
  msg = error_of([&] { c.root().get_bool("seed", false); });
  EXPECT_TRUE(contains(msg, fixture("common.yaml") + ":2: seed: expected true or false")) << msg;
  msg = error_of([&] { c.root().child("model").get_int("dtype", 0); });
  EXPECT_TRUE(contains(msg, fixture("experiment.yaml") + ":3: model.dtype")) << msg;
}

TEST(Config, UnknownKeyInIncludingFileNamesItsLine) {
  Config c = Config::load(fixture("misspelt_include.yaml"));
  ConfigNode d = c.root().child("dataset");
  d.get_string("name", "");
  d.get_int("limit", 0);
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_EQ(msg, fixture("misspelt_include.yaml") +
                     ":3: dataset.limt: unknown key (did you mean 'limit'?)");
}

TEST(Config, OverridesBeatIncludes) {
  Config c = Config::load(fixture("experiment.yaml"),
                          {"batch=32", "model.dtype=float16", "explainers[0].kappa=0.5",
                           "metrics=[x, y]", "seed=null"});
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_int("batch", 0), 32);
  EXPECT_EQ(r.child("model").get_string("dtype", ""), "float16");
  EXPECT_EQ(r.child("model").get_string("path", ""), "models/gpt2");
  EXPECT_DOUBLE_EQ(r.children("explainers")[0].get_double("kappa", 0), 0.5);
  EXPECT_EQ(r.get_string_list("metrics", {}), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.get_int("seed", 99), 99);  // null unsets, so the default applies
}

TEST(Config, ParseResolvesIncludesRelativeToSourceName) {
  Config c = Config::parse("include: shared/data.yaml\nextra: 1\n", fixture("inline.yaml"));
  EXPECT_EQ(c.root().child("dataset").get_string("name", ""), "toy");
  EXPECT_EQ(c.root().get_int("extra", 0), 1);
}

TEST(Config, IncludeCycleIsAnErrorNamingTheCycle) {
  const std::string msg = error_of([] { Config::load(fixture("cycle_a.yaml")); });
  EXPECT_TRUE(contains(msg, fixture("cycle_b.yaml") + ":1: include: include cycle: ")) << msg;
  EXPECT_TRUE(contains(msg, fixture("cycle_a.yaml") + " -> " + fixture("cycle_b.yaml") + " -> " +
                                fixture("cycle_a.yaml")))
      << msg;
}

TEST(Config, SelfIncludeIsACycle) {
  const std::string msg =
      error_of([] { Config::parse("include: self.yaml\n", fixture("self.yaml")); });
  EXPECT_TRUE(
      contains(msg, "include cycle: " + fixture("self.yaml") + " -> " + fixture("self.yaml")))
      << msg;
}

TEST(Config, MissingIncludeNamesPathAndIncludingFile) {
  const std::string msg = error_of([] { Config::load(fixture("missing_include.yaml")); });
  EXPECT_TRUE(contains(msg, fixture("missing_include.yaml") + ":2: include: ")) << msg;
  EXPECT_TRUE(contains(msg, "not found: " + fixture("shared/no_such_file.yaml"))) << msg;
  EXPECT_TRUE(contains(msg, "(included by " + fixture("missing_include.yaml") + ")")) << msg;
}

TEST(Config, IncludeMustNameFiles) {
  std::string msg = error_of([] { Config::parse("include: {a: 1}\n", "exp.yaml"); });
  EXPECT_TRUE(contains(msg,
                       "exp.yaml:1: include: expected a file name or a list of file names, "
                       "got a mapping"))
      << msg;
  msg = error_of([] { Config::parse("include:\n  - [a]\n", "exp.yaml"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: include[0]: expected a file name, got a list")) << msg;
}

TEST(Config, MissingFileNamesPath) {
  const std::string path = fixture("no_such_experiment.yaml");
  const std::string msg = error_of([&] { Config::load(path); });
  EXPECT_TRUE(contains(msg, "config file not found: " + path)) << msg;
}

TEST(Config, DirectoryIsNotAConfigFile) {
  const std::string msg = error_of([] { Config::load(fixture("shared")); });
  EXPECT_TRUE(contains(msg, "is a directory")) << msg;
}

TEST(Config, MalformedFileNamesFileLineAndParserMessage) {
  const std::string msg = error_of([] { Config::load(fixture("malformed.yaml")); });
  EXPECT_TRUE(contains(msg, fixture("malformed.yaml") + ":4: invalid YAML")) << msg;
  EXPECT_TRUE(contains(msg, "end of sequence flow not found")) << msg;
}

TEST(Config, MalformedIncludedFileNamesThatFile) {
  const std::string msg =
      error_of([] { Config::parse("include: malformed.yaml\n", fixture("inline.yaml")); });
  EXPECT_TRUE(contains(msg, fixture("malformed.yaml") + ":4: invalid YAML")) << msg;
}

// "Billion laughs": each anchor holds ten aliases of the one before. yaml-cpp shares the aliased
// nodes, but reading them into the config tree expanded every alias: 10^9 values, gigabytes,
// before any check ran, even under a key nothing reads. The tree now stops at a bound.
TEST(Config, AnAliasBombIsRefusedNamingTheFile) {
  std::string yaml = "name: bomb\nunread:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", " : "") + prev;
    yaml += "]\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = error_of([&] { Config::parse(yaml, "bomb.yaml"); });
  EXPECT_TRUE(contains(msg, "bomb.yaml:")) << msg;
  EXPECT_TRUE(contains(msg, "expands to more than 200000 values")) << msg;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  // A few aliases of a small anchor are fine.
  Config ok = Config::parse("base: &b {x: 1}\nuse: [*b, *b]\n", "ok.yaml");
  EXPECT_EQ(ok.root().children("use").size(), 2u);
}

TEST(Config, DeepNestingIsRefusedNamingTheFile) {
  std::string yaml = "a: ";
  for (int i = 0; i < 300; ++i) yaml += "[";
  for (int i = 0; i < 300; ++i) yaml += "]";
  const std::string msg = error_of([&] { Config::parse(yaml + "\n", "deep.yaml"); });
  EXPECT_TRUE(contains(msg, "deep.yaml")) << msg;
}

// yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray ',' at the top (yaml-cpp issue
// 1040; the config fuzzer found it with ",factor# f\he"): a typo in an experiment file took all
// the machine's memory. Now it is a one-line error.
TEST(Config, AStrayCommaIsAnErrorNotARunawayParse) {
  for (const char* text : {",", ",factor# f\\he", "- !+(.,.)", "a: 1\n,\n"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string msg = error_of([&] { Config::parse(text, "comma.yaml"); });
    EXPECT_TRUE(contains(msg, "comma.yaml")) << msg;
    EXPECT_TRUE(contains(msg, "invalid YAML")) << msg;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  }
  const std::string two = error_of([] { Config::parse("a: 1\n---\nb: 2\n", "two.yaml"); });
  EXPECT_TRUE(contains(two, "two.yaml: holds 2 YAML documents")) << two;
}

// Invalid UTF-8 in a value (written in the file, or made by yaml-cpp reading a text that starts
// with a byte and three NULs as UTF-32) made results.json's writer throw an internal JSON error.
TEST(Config, TextThatIsNotUtf8IsAnErrorNamingTheLine) {
  std::string msg = error_of([] { Config::parse("name: ok\nbad: \"x\xff\"\n", "bytes.yaml"); });
  EXPECT_TRUE(contains(msg, "bytes.yaml:2: invalid YAML (column 8): bytes that are not UTF-8"))
      << msg;
  msg = error_of([] { Config::parse(std::string("a\0\0\0: 1\n", 8), "nul.yaml"); });
  EXPECT_TRUE(contains(msg, "nul.yaml:1: invalid YAML (column 2): a NUL byte")) << msg;
  msg = error_of([] { Config::parse("a: 1\n", "set.yaml", {std::string("a=x\xc3(", 5)}); });
  EXPECT_TRUE(contains(msg, "not UTF-8")) << msg;
  // Valid multi-byte text passes and reads back.
  Config ok = Config::parse("name: \"Zürich café\"\n", "utf8.yaml");
  EXPECT_EQ(ok.root().get_string("name", ""), "Zürich café");
  EXPECT_NE(ok.resolved_json().find("Zürich"), std::string::npos);
}

// The config fuzzer found that an empty key (`!!int :`) made a child whose path was its parent's,
// and reading the resolved output recursed until the stack ran out.
TEST(Config, AnEmptyKeyIsRefused) {
  for (const char* text : {"!!int :\n  a: 1\n", "\"\": {a: 1}\n", "x: {\"\": 2}\n"}) {
    const std::string msg = error_of([&] { Config::parse(text, "keys.yaml"); });
    EXPECT_TRUE(contains(msg, "keys.yaml:")) << msg;
    EXPECT_TRUE(contains(msg, "a key may not be empty")) << msg;
  }
  // Dotted keys stay allowed: sweep files use them for override paths.
  EXPECT_EQ(Config::parse("a.b: 1\n", "dots.yaml").root().get_int("a.b", 0), 1);
}

}  // namespace
}  // namespace xai
