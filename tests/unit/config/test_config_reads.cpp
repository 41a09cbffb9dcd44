// ConfigNode reads: types, fallbacks, nested mappings, lists of mappings, and their errors.
#include <cmath>
#include <limits>

#include "tests/unit/config/config_test_util.h"

namespace xai {
namespace {

using config_test::contains;
using config_test::error_of;
using config_test::parse;

TEST(Config, ReadsScalarsOfEachType) {
  Config c = parse("name: gpt2\nsteps: 12\nfactor: 0.25\nfp16: true\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_string("name", ""), "gpt2");
  EXPECT_EQ(r.get_int("steps", 0), 12);
  EXPECT_DOUBLE_EQ(r.get_double("factor", 0), 0.25);
  EXPECT_TRUE(r.get_bool("fp16", false));
}

TEST(Config, MissingOrNullKeyGivesFallback) {
  Config c = parse("a: null\nb: ~\nc:\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_string("a", "dflt"), "dflt");
  EXPECT_EQ(r.get_int("b", 7), 7);
  EXPECT_DOUBLE_EQ(r.get_double("c", 1.5), 1.5);
  EXPECT_TRUE(r.get_bool("missing", true));
  EXPECT_EQ(r.get_int_list("missing_list", {1, 2}), (std::vector<int64_t>{1, 2}));
}

TEST(Config, HasIsFalseForMissingAndNull) {
  Config c = parse("a: 1\nb: null\nc: ''\n");
  ConfigNode r = c.root();
  EXPECT_TRUE(r.has("a"));
  EXPECT_FALSE(r.has("b"));
  EXPECT_FALSE(r.has("zzz"));
  EXPECT_TRUE(r.has("c"));  // an empty quoted string is a value
}

TEST(Config, StringReadsAnyScalarAsWritten) {
  Config c = parse("n: 5\nf: 1.50\nb: true\nq: \"quoted: yes\"\nnull_word: 'null'\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_string("n", ""), "5");
  EXPECT_EQ(r.get_string("f", ""), "1.50");
  EXPECT_EQ(r.get_string("b", ""), "true");
  EXPECT_EQ(r.get_string("q", ""), "quoted: yes");
  EXPECT_EQ(r.get_string("null_word", "fallback"), "null");  // quoted, so not null
}

TEST(Config, StringRejectsMappingAndList) {
  Config c = parse("model:\n  path: x\nlayers: [1]\n");
  std::string msg = error_of([&] { c.root().get_string("model", ""); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: model: expected a string, got a mapping")) << msg;
  msg = error_of([&] { c.root().get_string("layers", ""); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: layers: expected a string, got a list")) << msg;
}

TEST(Config, IntRejectsFloatAndWord) {
  Config c = parse("model:\n  steps: 1.5\n  batch: abc\n");
  ConfigNode m = c.root().child("model");
  std::string msg = error_of([&] { m.get_int("steps", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: model.steps: expected an integer, got '1.5'")) << msg;
  msg = error_of([&] { m.get_int("batch", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: model.batch: expected an integer, got 'abc'")) << msg;
}

TEST(Config, IntAcceptsSignsHexOctalAndFullRange) {
  Config c = parse(
      "a: -3\nb: +4\nc: 0x1F\nd: 0o17\ne: 9223372036854775807\nf: -9223372036854775808\n"
      "g: 9223372036854775808\nh: 1e3\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_int("a", 0), -3);
  EXPECT_EQ(r.get_int("b", 0), 4);
  EXPECT_EQ(r.get_int("c", 0), 31);
  EXPECT_EQ(r.get_int("d", 0), 15);
  EXPECT_EQ(r.get_int("e", 0), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r.get_int("f", 0), std::numeric_limits<int64_t>::min());
  std::string msg = error_of([&] { r.get_int("g", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:7: g: expected an integer")) << msg;
  EXPECT_TRUE(contains(msg, "out of the 64-bit range")) << msg;
  msg = error_of([&] { r.get_int("h", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:8: h: expected an integer, got '1e3'")) << msg;
}

TEST(Config, QuotedNumberIsAStringNotANumber) {
  Config c = parse("steps: \"5\"\nfactor: '0.5'\nflag: 'true'\n");
  ConfigNode r = c.root();
  std::string msg = error_of([&] { r.get_int("steps", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: steps: expected an integer, got \"5\"")) << msg;
  EXPECT_TRUE(contains(msg, "HINT: remove the quotes")) << msg;
  msg = error_of([&] { r.get_double("factor", 0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: factor: expected a number")) << msg;
  msg = error_of([&] { r.get_bool("flag", false); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: flag: expected true or false")) << msg;
  EXPECT_EQ(r.get_string("steps", ""), "5");
}

TEST(Config, DoubleAcceptsIntsFloatsAndInfinity) {
  Config c = parse("a: 2\nb: -0.5\nc: 1e-3\nd: .5\ne: .inf\nf: -.Inf\ng: .nan\nh: 0x10\n");
  ConfigNode r = c.root();
  EXPECT_DOUBLE_EQ(r.get_double("a", 0), 2.0);
  EXPECT_DOUBLE_EQ(r.get_double("b", 0), -0.5);
  EXPECT_DOUBLE_EQ(r.get_double("c", 0), 1e-3);
  EXPECT_DOUBLE_EQ(r.get_double("d", 0), 0.5);
  EXPECT_TRUE(std::isinf(r.get_double("e", 0)) && r.get_double("e", 0) > 0);
  EXPECT_TRUE(std::isinf(r.get_double("f", 0)) && r.get_double("f", 0) < 0);
  EXPECT_TRUE(std::isnan(r.get_double("g", 0)));
  EXPECT_DOUBLE_EQ(r.get_double("h", 0), 16.0);
  Config more = parse("a: 5.\nb: -.5\nc: +2.5E+2\n");
  EXPECT_DOUBLE_EQ(more.root().get_double("a", 0), 5.0);
  EXPECT_DOUBLE_EQ(more.root().get_double("b", 0), -0.5);
  EXPECT_DOUBLE_EQ(more.root().get_double("c", 0), 250.0);
}

TEST(Config, DoubleRejectsNonYamlNumbers) {
  Config c = parse("a: inf\nb: nan\nc: 1e999\nd: 1.2.3\ne: .\nf: 1e\ng: 0x\n");
  for (const char* key : {"a", "b", "c", "d", "e", "f", "g"}) {
    const std::string msg = error_of([&] { c.root().get_double(key, 0); });
    EXPECT_TRUE(contains(msg, std::string(key) + ": expected a number")) << msg;
  }
}

TEST(Config, DoubleRejectsWord) {
  Config c = parse("explainers:\n  - name: atman\n    factor: abc\n");
  ConfigNode e = c.root().children("explainers").at(0);
  const std::string msg = error_of([&] { e.get_double("factor", 0.1); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: explainers[0].factor: expected a number, got 'abc'"))
      << msg;
}

TEST(Config, BoolAcceptsTrueFalseYesNoOnOff) {
  Config c = parse("a: true\nb: False\nc: yes\nd: no\ne: on\nf: OFF\n");
  ConfigNode r = c.root();
  EXPECT_TRUE(r.get_bool("a", false));
  EXPECT_FALSE(r.get_bool("b", true));
  EXPECT_TRUE(r.get_bool("c", false));
  EXPECT_FALSE(r.get_bool("d", true));
  EXPECT_TRUE(r.get_bool("e", false));
  EXPECT_FALSE(r.get_bool("f", true));
}

TEST(Config, BoolRejectsNumberAndWord) {
  Config c = parse("a: 1\nb: maybe\n");
  std::string msg = error_of([&] { c.root().get_bool("a", false); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: a: expected true or false, got '1'")) << msg;
  msg = error_of([&] { c.root().get_bool("b", false); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: b: expected true or false, got 'maybe'")) << msg;
}

TEST(Config, ListsReadSequences) {
  Config c = parse("names: [a, b, 3]\nlayers:\n  - 0\n  - -1\nalphas: [0.5, 1]\nempty: []\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_string_list("names", {}), (std::vector<std::string>{"a", "b", "3"}));
  EXPECT_EQ(r.get_int_list("layers", {}), (std::vector<int64_t>{0, -1}));
  EXPECT_EQ(r.get_double_list("alphas", {}), (std::vector<double>{0.5, 1.0}));
  EXPECT_TRUE(r.get_string_list("empty", {"x"}).empty());
  EXPECT_EQ(r.get_double_list("missing", {0.25}), (std::vector<double>{0.25}));
}

// Decision: a single scalar where a list is expected reads as a one-element list (handy for
// "--set metrics=aopc"); a mapping is still an error.
TEST(Config, ScalarReadsAsOneElementList) {
  Config c = parse("metrics: aopc\nlayers: 3\nalphas: 0.5\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_string_list("metrics", {}), (std::vector<std::string>{"aopc"}));
  EXPECT_EQ(r.get_int_list("layers", {}), (std::vector<int64_t>{3}));
  EXPECT_EQ(r.get_double_list("alphas", {}), (std::vector<double>{0.5}));
}

TEST(Config, ListRejectsMapping) {
  Config c = parse("metrics:\n  aopc: 1\n");
  const std::string msg = error_of([&] { c.root().get_string_list("metrics", {}); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: metrics: expected a list, got a mapping")) << msg;
}

TEST(Config, ListElementErrorNamesIndexAndLine) {
  Config c = parse("run:\n  layers:\n    - 0\n    - two\n  names: [a, {b: 1}]\n");
  ConfigNode run = c.root().child("run");
  std::string msg = error_of([&] { run.get_int_list("layers", {}); });
  EXPECT_TRUE(contains(msg, "exp.yaml:4: run.layers[1]: expected an integer, got 'two'")) << msg;
  msg = error_of([&] { run.get_double_list("layers", {}); });
  EXPECT_TRUE(contains(msg, "run.layers[1]: expected a number")) << msg;
  msg = error_of([&] { run.get_string_list("names", {}); });
  EXPECT_TRUE(contains(msg, "exp.yaml:5: run.names[1]: expected a string, got a mapping")) << msg;
}

TEST(Config, OptionalDoubleNullOffNoneAreNullopt) {
  Config c = parse(
      "a: null\nb: ~\nc: off\nd: None\ne: OFF\nf: 0.5\ng: 2\nh: 'none'\ni: \"0.5\"\nj: maybe\n");
  ConfigNode r = c.root();
  EXPECT_EQ(r.get_optional_double("a", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("b", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("c", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("d", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("e", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("f", std::nullopt), 0.5);
  EXPECT_EQ(r.get_optional_double("g", std::nullopt), 2.0);
  EXPECT_EQ(r.get_optional_double("h", 1.0), std::nullopt);
  EXPECT_EQ(r.get_optional_double("missing", 0.7), 0.7);
  EXPECT_EQ(r.get_optional_double("missing2", std::nullopt), std::nullopt);
  std::string msg = error_of([&] { r.get_optional_double("i", 1.0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:9: i: expected a number or off")) << msg;
  msg = error_of([&] { r.get_optional_double("j", 1.0); });
  EXPECT_TRUE(contains(msg, "exp.yaml:10: j: expected a number or off (null, none), got 'maybe'"))
      << msg;
}

TEST(Config, ChoiceAcceptsListedValueAndFallback) {
  Config c = parse("mode: log_additive\n");
  const std::vector<std::string> modes = {"shifted_scores", "log_additive"};
  EXPECT_EQ(c.root().get_choice("mode", "shifted_scores", modes), "log_additive");
  EXPECT_EQ(c.root().get_choice("other", "shifted_scores", modes), "shifted_scores");
}

TEST(Config, ChoiceErrorListsChoicesAndSuggestsNearest) {
  Config c = parse("atman:\n  mode: log_additve\n");
  const std::string msg = error_of([&] {
    c.root().child("atman").get_choice("mode", "shifted_scores",
                                       {"shifted_scores", "log_additive"});
  });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: atman.mode: expected one of shifted_scores, log_additive"))
      << msg;
  EXPECT_TRUE(contains(msg, "got 'log_additve'")) << msg;
  EXPECT_TRUE(contains(msg, "(did you mean 'log_additive'?)")) << msg;
}

TEST(Config, RequireStringReadsPresentKey) {
  Config c = parse("model:\n  path: models/gpt2\n");
  EXPECT_EQ(c.root().child("model").require_string("path"), "models/gpt2");
}

TEST(Config, RequireStringMissingNamesKeyAndPath) {
  Config c = parse("name: x\nmodel:\n  dtype: float32\n  path: null\n");
  std::string msg = error_of([&] { c.root().child("model").require_string("tokenizer"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: model.tokenizer: required key is missing")) << msg;
  EXPECT_TRUE(contains(msg, "add 'tokenizer: ...' under 'model'")) << msg;
  msg = error_of([&] { c.root().child("model").require_string("path"); });  // null is missing
  EXPECT_TRUE(contains(msg, "model.path: required key is missing")) << msg;
  msg = error_of([&] { c.root().require_string("output"); });
  EXPECT_TRUE(contains(msg, "exp.yaml: output: required key is missing")) << msg;
  EXPECT_TRUE(contains(msg, "at the top level")) << msg;
  msg = error_of([&] { c.root().child("dataset").require_string("name"); });  // absent mapping
  EXPECT_TRUE(contains(msg, "exp.yaml: dataset.name: required key is missing")) << msg;
}

TEST(Config, ChildReadsNestedMapping) {
  Config c = parse("model:\n  path: p\n  opts:\n    dtype: bf16\n");
  ConfigNode opts = c.root().child("model").child("opts");
  EXPECT_EQ(opts.path(), "model.opts");
  EXPECT_EQ(opts.get_string("dtype", ""), "bf16");
}

TEST(Config, ChildOfMissingKeyIsEmptyMapping) {
  Config c = parse("a: 1\nb: null\n");
  for (const std::string key : {"missing", "b"}) {
    ConfigNode n = c.root().child(key);
    EXPECT_EQ(n.path(), key);
    EXPECT_TRUE(n.keys().empty());
    EXPECT_FALSE(n.has("x"));
    EXPECT_EQ(n.get_int("x", 3), 3);
    EXPECT_EQ(n.child("deeper").path(), key + ".deeper");
    EXPECT_NO_THROW(n.finish());
  }
}

TEST(Config, ChildRejectsScalarAndList) {
  Config c = parse("model: gpt2\nlist: [1]\n");
  std::string msg = error_of([&] { c.root().child("model"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: model: expected a mapping, got 'gpt2'")) << msg;
  msg = error_of([&] { c.root().child("list"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: list: expected a mapping, got a list")) << msg;
}

TEST(Config, ChildrenReadsListOfMappings) {
  Config c = parse(
      "explainers:\n  - name: atman\n    kappa: 0.7\n  - {name: rollout}\n  - name: ig\n"
      "    steps: 32\n");
  std::vector<ConfigNode> ex = c.root().children("explainers");
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].path(), "explainers[0]");
  EXPECT_EQ(ex[2].path(), "explainers[2]");
  EXPECT_EQ(ex[0].get_string("name", ""), "atman");
  EXPECT_DOUBLE_EQ(ex[0].get_double("kappa", 0), 0.7);
  EXPECT_EQ(ex[1].get_string("name", ""), "rollout");
  EXPECT_EQ(ex[2].get_int("steps", 0), 32);
}

TEST(Config, ChildrenOfMissingOrNullKeyIsEmpty) {
  Config c = parse("explainers: null\n");
  EXPECT_TRUE(c.root().children("explainers").empty());
  EXPECT_TRUE(c.root().children("metrics").empty());
}

TEST(Config, ChildrenRejectsScalarElementAndNonList) {
  Config c = parse("explainers:\n  - name: atman\n  - rollout\nmetrics:\n  name: aopc\nx: 3\n");
  std::string msg = error_of([&] { c.root().children("explainers"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: explainers[1]: expected a mapping, got 'rollout'")) << msg;
  msg = error_of([&] { c.root().children("metrics"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:5: metrics: expected a list of mappings, got a mapping"))
      << msg;
  EXPECT_TRUE(contains(msg, "HINT")) << msg;
  msg = error_of([&] { c.root().children("x"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:6: x: expected a list of mappings, got '3'")) << msg;
}

TEST(Config, IsMappingDistinguishesScalarAndMapping) {
  Config c = parse("model: gpt2\ntokenizer:\n  path: t.json\nnothing: null\n");
  ConfigNode r = c.root();
  EXPECT_FALSE(r.is_mapping("model"));
  EXPECT_TRUE(r.is_mapping("tokenizer"));
  EXPECT_FALSE(r.is_mapping("nothing"));
  EXPECT_FALSE(r.is_mapping("missing"));
}

TEST(Config, KeysAreInFileOrder) {
  Config c = parse("zeta: 1\nalpha: 2\nmid:\n  b: 1\n  a: 2\nnull_key: null\n");
  EXPECT_EQ(c.root().keys(), (std::vector<std::string>{"zeta", "alpha", "mid", "null_key"}));
  EXPECT_EQ(c.root().child("mid").keys(), (std::vector<std::string>{"b", "a"}));
}

TEST(Config, PathAndSourceOfNodes) {
  Config c = Config::parse("a:\n  b: {c: 1}\nl: [{x: 1}]\n", "configs/exp.yaml");
  EXPECT_EQ(c.root().path(), "");
  EXPECT_EQ(c.root().source(), "configs/exp.yaml");
  EXPECT_EQ(c.root().child("a").child("b").path(), "a.b");
  EXPECT_EQ(c.root().child("a").child("b").source(), "configs/exp.yaml");
  EXPECT_EQ(c.root().children("l")[0].source(), "configs/exp.yaml");
  EXPECT_EQ(c.root().child("absent").source(), "configs/exp.yaml");
}

TEST(Config, NodesAreCheapViewsSharingState) {
  Config c = parse("model:\n  path: p\n  dtype: f32\n");
  ConfigNode a = c.root().child("model");
  ConfigNode b = a;  // a copy sees, and records into, the same state
  EXPECT_EQ(b.get_string("path", ""), "p");
  EXPECT_EQ(c.root().child("model").get_string("dtype", ""), "f32");
  EXPECT_NO_THROW(a.finish());
  Config copy = c;
  EXPECT_NO_THROW(copy.root().finish());
  EXPECT_NO_THROW(copy.finish_all());
}

TEST(Config, MultiLineValueInErrorStaysOnOneLine) {
  Config c = parse("prompt: |\n  first\n  second\n");
  const std::string msg = error_of([&] { c.root().get_int("prompt", 0); });
  EXPECT_TRUE(contains(
      msg, "exp.yaml:1: prompt: expected an integer, got \"first\\nsecond\\n\" (a string)"))
      << msg;
}

TEST(Config, DuplicateKeyIsAnError) {
  const std::string msg = error_of([] { parse("model:\n  path: a\n  dtype: f32\n  path: b\n"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:4: model.path: duplicate key (first set at line 2)")) << msg;
}

TEST(Config, TopLevelMustBeAMapping) {
  std::string msg = error_of([] { parse("- a\n- b\n"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: expected a mapping of keys at the top, got a list"))
      << msg;
  msg = error_of([] { parse("just text\n"); });
  EXPECT_TRUE(contains(msg, "got 'just text'")) << msg;
}

TEST(Config, EmptyDocumentIsAnEmptyMapping) {
  Config c = parse("# nothing but a comment\n");
  EXPECT_TRUE(c.root().keys().empty());
  EXPECT_EQ(c.root().get_int("steps", 4), 4);
  EXPECT_NO_THROW(c.finish_all());
  Config empty = parse("");
  EXPECT_TRUE(empty.root().keys().empty());
}

TEST(Config, MultipleDocumentsAreAnError) {
  const std::string msg = error_of([] { parse("a: 1\n---\nb: 2\n"); });
  EXPECT_TRUE(contains(msg, "exp.yaml: holds 2 YAML documents")) << msg;
}

TEST(Config, MalformedTextNamesSourceLineAndParserMessage) {
  const std::string msg = error_of([] { parse("a: 1\nb: [1, 2\nc: 3\n"); });
  EXPECT_TRUE(contains(msg, "exp.yaml:")) << msg;
  EXPECT_TRUE(contains(msg, "invalid YAML")) << msg;
  EXPECT_TRUE(contains(msg, "end of sequence flow not found")) << msg;
}

}  // namespace
}  // namespace xai
