// `--set path=value` overrides: dotted paths, list indices, values parsed as YAML, and errors that
// name the override.
#include "tests/unit/config/config_test_util.h"

namespace xai {
namespace {

using config_test::contains;
using config_test::error_of;
using config_test::parse;

const char* const kExperiment =
    "model:\n"
    "  path: p\n"
    "layers: [0, 1, 2]\n"
    "explainers:\n"
    "  - name: atman\n"
    "  - name: ig\n"
    "    factor: 0.1\n";

TEST(Config, OverrideReplacesScalar) {
  Config c = parse(kExperiment, {"model.path=q"});
  EXPECT_EQ(c.root().child("model").get_string("path", ""), "q");
}

TEST(Config, OverrideCreatesKeysAndMappings) {
  Config c = parse(kExperiment, {"model.dtype=bf16", "run.output.dir=out", "run.output.keep=true"});
  EXPECT_EQ(c.root().child("model").get_string("dtype", ""), "bf16");
  ConfigNode out = c.root().child("run").child("output");
  EXPECT_EQ(out.get_string("dir", ""), "out");
  EXPECT_TRUE(out.get_bool("keep", false));
  EXPECT_EQ(c.root().keys().back(), "run");  // a new key goes last
}

TEST(Config, OverrideCreatesKeysInEmptyConfig) {
  Config c = parse("", {"a.b.c=3"});
  EXPECT_EQ(c.root().child("a").child("b").get_int("c", 0), 3);
}

TEST(Config, OverrideReplacesListElement) {
  Config c =
      parse(kExperiment, {"explainers[1].factor=0.2", "layers[2]=5", "explainers[0].kappa=0.7"});
  std::vector<ConfigNode> ex = c.root().children("explainers");
  EXPECT_DOUBLE_EQ(ex[1].get_double("factor", 0), 0.2);
  EXPECT_EQ(ex[1].get_string("name", ""), "ig");
  EXPECT_DOUBLE_EQ(ex[0].get_double("kappa", 0), 0.7);
  EXPECT_EQ(c.root().get_int_list("layers", {}), (std::vector<int64_t>{0, 1, 5}));
}

TEST(Config, OverrideValueIsParsedAsYaml) {
  Config c = parse(kExperiment, {"layers=[3, 4]", "model={path: z, dtype: f16}", "name='5'",
                                 "factor=0.25", "flag=yes", "text=hello world", "empty="});
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_int_list("layers", {}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(r.child("model").get_string("dtype", ""), "f16");
  EXPECT_EQ(r.child("model").get_string("path", ""), "z");
  EXPECT_EQ(r.get_string("name", ""), "5");
  EXPECT_THROW(r.get_int("name", 0), Error);  // quoted in the override, so a string
  EXPECT_DOUBLE_EQ(r.get_double("factor", 0), 0.25);
  EXPECT_TRUE(r.get_bool("flag", false));
  EXPECT_EQ(r.get_string("text", ""), "hello world");
  EXPECT_EQ(r.get_string("empty", "dflt"), "dflt");  // an empty value is null
}

TEST(Config, OverrideNullUnsetsKey) {
  Config c = parse(kExperiment, {"model.path=null"});
  EXPECT_FALSE(c.root().child("model").has("path"));
  EXPECT_EQ(c.root().child("model").get_string("path", "default"), "default");
}

TEST(Config, OverridesApplyInOrder) {
  Config c = parse(kExperiment, {"model.path=a", "model.path=b"});
  EXPECT_EQ(c.root().child("model").get_string("path", ""), "b");
}

TEST(Config, OverrideValueAllowsEqualsSign) {
  Config c = parse("", {"prompt=a=b"});
  EXPECT_EQ(c.root().get_string("prompt", ""), "a=b");
}

TEST(Config, OverrideIndexOutOfRangeIsAnError) {
  const std::string msg = error_of([] { parse(kExperiment, {"explainers[2].factor=0.2"}); });
  EXPECT_EQ(msg,
            "--set explainers[2].factor=0.2: explainers[2]: index out of range (explainers has 2 "
            "elements)");
}

TEST(Config, OverrideIndexOnNonListIsAnError) {
  std::string msg = error_of([] { parse(kExperiment, {"model[0]=x"}); });
  EXPECT_TRUE(contains(msg, "--set model[0]=x: model is a mapping, not a list")) << msg;
  msg = error_of([] { parse(kExperiment, {"missing[0]=x"}); });
  EXPECT_TRUE(contains(msg, "--set missing[0]=x: missing is null, not a list")) << msg;
}

TEST(Config, OverrideKeyUnderScalarIsAnError) {
  const std::string msg = error_of([] { parse(kExperiment, {"model.path.x=1"}); });
  EXPECT_TRUE(contains(msg, "--set model.path.x=1: model.path is 'p', not a mapping")) << msg;
  EXPECT_TRUE(contains(msg, "no key 'x'")) << msg;
}

TEST(Config, OverrideWithoutEqualsIsAnError) {
  const std::string msg = error_of([] { parse(kExperiment, {"model.path"}); });
  EXPECT_TRUE(contains(msg, "--set model.path: invalid override, expected path=value")) << msg;
}

TEST(Config, OverrideBadPathSyntaxIsAnError) {
  for (const std::string bad :
       {"=1", "a..b=1", ".a=1", "a.=1", "a[x]=1", "a[=1", "a[-1]=1", "a]b=1", "[0]=1", "a[0]b=1"}) {
    const std::string msg = error_of([&] { parse(kExperiment, {bad}); });
    EXPECT_TRUE(contains(msg, "--set " + bad + ": invalid override path")) << msg;
    EXPECT_TRUE(contains(msg, "HINT")) << msg;
  }
}

TEST(Config, OverrideInvalidYamlValueIsAnError) {
  const std::string msg = error_of([] { parse(kExperiment, {"layers=[1, 2"}); });
  EXPECT_TRUE(contains(msg, "--set layers=[1, 2: the value is not valid YAML")) << msg;
}

TEST(Config, WrongTypeFromOverrideNamesTheOverride) {
  Config c = parse(kExperiment, {"explainers[1].factor=abc"});
  const std::string msg =
      error_of([&] { c.root().children("explainers")[1].get_double("factor", 0); });
  EXPECT_EQ(msg,
            "--set explainers[1].factor=abc: explainers[1].factor: expected a number, got 'abc'");
}

TEST(Config, MisspeltOverrideKeyIsCaughtByFinishAll) {
  Config c = parse(kExperiment, {"modle.path=x"});
  ConfigNode r = c.root();
  r.child("model").get_string("path", "");
  r.get_int_list("layers", {});
  for (const ConfigNode& e : r.children("explainers")) {
    e.get_string("name", "");
    e.get_double("factor", 0.1);
  }
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_EQ(msg, "--set modle.path=x: modle: unknown key (did you mean 'model'?)");
}

TEST(Config, OverrideKeepsSourceOfEnclosingFile) {
  Config c = Config::parse(kExperiment, "configs/exp.yaml", {"run.out=x", "model={path: y}"});
  EXPECT_EQ(c.root().child("run").source(), "configs/exp.yaml");
  EXPECT_EQ(c.root().child("model").source(), "configs/exp.yaml");
}

}  // namespace
}  // namespace xai
