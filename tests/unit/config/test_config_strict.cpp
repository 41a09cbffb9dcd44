// Strictness: finish() and finish_all() turn keys nobody read into errors naming file, line, path
// and the nearest valid key.
#include "tests/unit/config/config_test_util.h"

namespace xai {
namespace {

using config_test::contains;
using config_test::error_of;
using config_test::parse;

TEST(Config, FinishPassesWhenEveryKeyWasRead) {
  Config c = parse("name: x\nsteps: 3\nmodel:\n  path: p\n");
  ConfigNode r = c.root();
  r.get_string("name", "");
  r.get_int("steps", 0);
  r.child("model").get_string("path", "");
  EXPECT_NO_THROW(r.finish());
  EXPECT_NO_THROW(r.child("model").finish());
  EXPECT_NO_THROW(c.finish_all());
}

TEST(Config, UnknownKeySuggestsNearest) {
  Config c = parse("explainers:\n  - name: atman\n    factor: 0.1\n    kapa: 0.7\n");
  ConfigNode e = c.root().children("explainers")[0];
  e.get_string("name", "");
  e.get_double("factor", 0.1);
  e.get_optional_double("kappa", 0.7);
  const std::string msg = error_of([&] { e.finish(); });
  EXPECT_EQ(msg, "exp.yaml:4: explainers[0].kapa: unknown key (did you mean 'kappa'?)");
}

TEST(Config, KeysAskedButAbsentAreValidSuggestions) {
  Config c = parse("batch_sise: 4\n");
  ConfigNode r = c.root();
  EXPECT_FALSE(r.has("batch_size"));  // asking counts even though the key is absent
  const std::string msg = error_of([&] { r.finish(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: batch_sise: unknown key (did you mean 'batch_size'?)"))
      << msg;
}

TEST(Config, EveryKindOfReadMarksTheKeyAsRead) {
  Config c = parse(
      "s: a\ni: 1\nd: 1.0\nb: true\nsl: [a]\nil: [1]\ndl: [1.0]\no: off\nch: x\nrq: r\n"
      "m: {}\nl: []\nh: 1\nim: 1\n");
  ConfigNode r = c.root();
  r.get_string("s", "");
  r.get_int("i", 0);
  r.get_double("d", 0);
  r.get_bool("b", false);
  r.get_string_list("sl", {});
  r.get_int_list("il", {});
  r.get_double_list("dl", {});
  r.get_optional_double("o", std::nullopt);
  r.get_choice("ch", "x", {"x"});
  r.require_string("rq");
  r.child("m");
  r.children("l");
  r.has("h");
  r.is_mapping("im");
  EXPECT_NO_THROW(r.finish());
  EXPECT_NO_THROW(c.finish_all());
}

TEST(Config, UnknownKeyWithoutNearMatchListsValidKeys) {
  Config c = parse("model:\n  path: p\n  completely_different: 1\n");
  ConfigNode m = c.root().child("model");
  m.get_string("path", "");
  m.get_string("dtype", "f32");
  const std::string msg = error_of([&] { m.finish(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: model.completely_different: unknown key")) << msg;
  EXPECT_TRUE(contains(msg, "(valid keys here: path, dtype)")) << msg;
}

TEST(Config, FinishChecksOnlyItsOwnMapping) {
  Config c = parse("model:\n  path: p\n  typo: 1\nname: x\n");
  ConfigNode r = c.root();
  r.child("model");  // "model" is read; the keys under it are model's business
  r.get_string("name", "");
  EXPECT_NO_THROW(r.finish());
  r.child("model").get_string("path", "");
  const std::string msg = error_of([&] { r.child("model").finish(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:3: model.typo: unknown key")) << msg;
}

TEST(Config, FinishReportsFirstUnknownKeyInFileOrder) {
  Config c = parse("b_typo: 1\na_typo: 2\nok: 3\n");
  c.root().get_int("ok", 0);
  const std::string msg = error_of([&] { c.root().finish(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: b_typo: unknown key")) << msg;
}

TEST(Config, FinishAllCatchesMisspeltKeyDeepInListOfMappings) {
  Config c = parse(
      "model:\n"
      "  path: p\n"
      "explainers:\n"
      "  - name: atman\n"
      "    kappa: 0.7\n"
      "  - name: chefer\n"
      "    heads:\n"
      "      - layer: 1\n"
      "        weigth: 0.5\n");
  ConfigNode r = c.root();
  r.child("model").get_string("path", "");
  for (const ConfigNode& e : r.children("explainers")) {
    e.get_string("name", "");
    e.get_optional_double("kappa", std::nullopt);
    for (const ConfigNode& h : e.children("heads")) {
      h.get_int("layer", 0);
      h.get_double("weight", 1.0);
    }
  }
  EXPECT_NO_THROW(r.finish());
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_EQ(msg, "exp.yaml:9: explainers[1].heads[0].weigth: unknown key (did you mean 'weight'?)");
}

TEST(Config, FinishAllCatchesTopLevelKeyNobodyRead) {
  Config c = parse("model:\n  path: p\nmodle:\n  path: q\n");
  c.root().child("model").get_string("path", "");
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_EQ(msg, "exp.yaml:3: modle: unknown key (did you mean 'model'?)");
}

TEST(Config, FinishAllCatchesKeysUnderAMappingNobodyOpened) {
  // "dataset" was only asked about (has), never opened: its keys were read by nobody.
  Config c = parse("dataset:\n  name: toy\n");
  EXPECT_TRUE(c.root().has("dataset"));
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: dataset.name: unknown key")) << msg;
  EXPECT_TRUE(contains(msg, "nothing reads any key under 'dataset'")) << msg;
}

TEST(Config, FinishAllOnUntouchedConfigReportsFirstKey) {
  Config c = parse("alpha: 1\nbeta: 2\n");
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:1: alpha: unknown key")) << msg;
}

TEST(Config, FinishAllLooksIntoNestedListsOfMappings) {
  Config c = parse("grid:\n  - [{a: 1}]\n");
  c.root().has("grid");
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_TRUE(contains(msg, "exp.yaml:2: grid[0][0].a: unknown key")) << msg;
}

TEST(Config, NullValuedUnknownKeyIsStillReported) {
  Config c = parse("name: x\nkapa:\n");
  c.root().get_string("name", "");
  c.root().get_double("kappa", 0.5);
  const std::string msg = error_of([&] { c.finish_all(); });
  EXPECT_EQ(msg, "exp.yaml:2: kapa: unknown key (did you mean 'kappa'?)");
}

}  // namespace
}  // namespace xai
