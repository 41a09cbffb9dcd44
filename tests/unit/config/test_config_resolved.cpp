// The resolved configuration: every key read with the value used (defaults included), in first-read
// order, as YAML and JSON.
#include <nlohmann/json.hpp>

#include "tests/unit/config/config_test_util.h"

namespace xai {
namespace {

using config_test::contains;
using config_test::parse;
using Json = nlohmann::json;

const char* const kExperiment =
    "model:\n"
    "  path: models/gpt2\n"
    "explainers:\n"
    "  - name: atman\n"
    "    kappa: off\n"
    "  - name: ig\n"
    "    steps: 8\n"
    "metrics: [aopc]\n"
    "never_read: 1\n";

// Reads kExperiment the way a run would, relying on defaults for what is absent.
void read_experiment(const Config& c) {
  ConfigNode r = c.root();
  r.get_int("seed", 42);
  ConfigNode model = r.child("model");
  model.get_string("path", "");
  model.get_choice("dtype", "float32", {"float32", "bfloat16"});
  for (const ConfigNode& e : r.children("explainers")) {
    e.get_string("name", "");
    e.get_optional_double("kappa", 0.7);
    e.get_int("steps", 16);
    e.get_double_list("alphas", {0.1, 1.0});
  }
  r.get_string_list("metrics", {});
  r.get_bool("fp16", false);
}

TEST(Config, ResolvedJsonHasReadValuesAndDefaults) {
  Config c = parse(kExperiment);
  read_experiment(c);
  const Json expected = Json::parse(R"({
    "seed": 42,
    "model": {"path": "models/gpt2", "dtype": "float32"},
    "explainers": [
      {"name": "atman", "kappa": null, "steps": 16, "alphas": [0.1, 1.0]},
      {"name": "ig", "kappa": 0.7, "steps": 8, "alphas": [0.1, 1.0]}
    ],
    "metrics": ["aopc"],
    "fp16": false
  })");
  EXPECT_EQ(Json::parse(c.resolved_json()), expected);
}

TEST(Config, ResolvedKeepsFirstReadOrder) {
  Config c = parse("b: 1\na: 2\n");
  c.root().get_int("zed", 0);
  c.root().get_int("a", 0);
  c.root().get_int("b", 0);
  c.root().get_int("zed", 0);  // a second read does not move it
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(c.resolved_json());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"zed", "a", "b"}));
  const std::string yaml = c.resolved_yaml();
  EXPECT_LT(yaml.find("zed:"), yaml.find("a:"));
  EXPECT_LT(yaml.find("a:"), yaml.find("b:"));
}

TEST(Config, ResolvedYamlReadsBackToTheSameValues) {
  Config c = parse(kExperiment);
  read_experiment(c);
  const std::string yaml = c.resolved_yaml();
  EXPECT_TRUE(contains(yaml, "seed: 42")) << yaml;
  EXPECT_TRUE(contains(yaml, "dtype: float32")) << yaml;
  EXPECT_TRUE(contains(yaml, "kappa: null")) << yaml;
  EXPECT_TRUE(contains(yaml, "alphas: [0.1, 1.0]")) << yaml;
  EXPECT_FALSE(contains(yaml, "never_read")) << yaml;

  Config again = Config::parse(yaml, "resolved.yaml");
  read_experiment(again);
  EXPECT_NO_THROW(again.finish_all());  // the resolved file holds exactly what is read
  EXPECT_EQ(Json::parse(again.resolved_json()), Json::parse(c.resolved_json()));
}

// A key that begins with a document marker ("--- dataset", from " --- dataset:") is quoted, so the
// resolved file reads back (found by the config fuzzer).
TEST(Config, ResolvedYamlQuotesKeysThatLookLikeDocumentMarkers) {
  Config c = Config::parse(" --- dataset:\n  name: toy\n", "marker.yaml");
  const std::string key = c.root().keys().at(0);
  EXPECT_EQ(c.root().child(key).get_string("name", ""), "toy");
  const std::string yaml = c.resolved_yaml();
  Config again = Config::parse(yaml, "resolved.yaml");
  EXPECT_EQ(again.root().child(key).get_string("name", ""), "toy") << yaml;
}

TEST(Config, ResolvedOmitsKeysNotRead) {
  Config c = parse(kExperiment);
  c.root().child("model").get_string("path", "");
  EXPECT_EQ(Json::parse(c.resolved_json()), Json::parse(R"({"model": {"path": "models/gpt2"}})"));
}

TEST(Config, ResolvedAbsentChildAndChildrenAreEmpty) {
  Config c = parse("");
  c.root().child("model");
  c.root().children("explainers");
  EXPECT_EQ(Json::parse(c.resolved_json()), Json::parse(R"({"model": {}, "explainers": []})"));
  Config again = Config::parse(c.resolved_yaml(), "resolved.yaml");
  EXPECT_TRUE(again.root().child("model").keys().empty());
  EXPECT_TRUE(again.root().children("explainers").empty());
}

TEST(Config, ResolvedEmptyWhenNothingRead) {
  Config c = parse("a: 1\n");
  EXPECT_EQ(Json::parse(c.resolved_json()), Json::object());
  EXPECT_EQ(c.resolved_yaml(), "{}\n");
}

TEST(Config, ResolvedStringsThatLookLikeOtherTypesStayStrings) {
  Config c = parse("version: '1.0'\nn: 5\nword: 'true'\nnothing: 'null'\ncolon: 'a: b'\n");
  ConfigNode r = c.root();
  for (const char* key : {"version", "n", "word", "nothing", "colon"}) r.get_string(key, "");
  const Json j = Json::parse(c.resolved_json());
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["n"], "5");
  EXPECT_EQ(j["word"], "true");
  EXPECT_EQ(j["nothing"], "null");
  Config again = Config::parse(c.resolved_yaml(), "resolved.yaml");
  EXPECT_EQ(again.root().get_string("nothing", "fallback"), "null");
  EXPECT_EQ(again.root().get_string("colon", ""), "a: b");
  EXPECT_THROW(again.root().get_bool("word", false), Error);  // still quoted
}

TEST(Config, ResolvedNumbersKeepTheirTypes) {
  Config c = parse("ratio: 1\nbig: 123456789012345\nsmall: 1e-7\ninf: .inf\n");
  ConfigNode r = c.root();
  r.get_double("ratio", 0);
  r.get_int("big", 0);
  r.get_double("small", 0);
  r.get_double("inf", 0);
  const Json j = Json::parse(c.resolved_json());
  EXPECT_TRUE(j["ratio"].is_number_float());
  EXPECT_TRUE(j["big"].is_number_integer());
  EXPECT_EQ(j["big"].get<int64_t>(), 123456789012345);
  const std::string yaml = c.resolved_yaml();
  EXPECT_TRUE(contains(yaml, "ratio: 1.0")) << yaml;
  EXPECT_TRUE(contains(yaml, "inf: .inf")) << yaml;
  Config again = Config::parse(yaml, "resolved.yaml");
  EXPECT_DOUBLE_EQ(again.root().get_double("small", 0), 1e-7);
  EXPECT_EQ(again.root().get_int("big", 0), 123456789012345);
}

TEST(Config, ResolvedRecordsOverriddenValues) {
  Config c = parse(kExperiment, {"explainers[1].steps=4", "model.dtype=bfloat16"});
  read_experiment(c);
  const Json j = Json::parse(c.resolved_json());
  EXPECT_EQ(j["explainers"][1]["steps"], 4);
  EXPECT_EQ(j["model"]["dtype"], "bfloat16");
}

TEST(Config, ResolvedScalarOrMappingKey) {
  Config c = parse("model: gpt2\ntokenizer:\n  path: t.json\n");
  ConfigNode r = c.root();
  for (const char* key : {"model", "tokenizer"}) {
    if (r.is_mapping(key)) {
      r.child(key).get_string("path", "");
    } else {
      r.get_string(key, "");
    }
  }
  EXPECT_NO_THROW(c.finish_all());
  EXPECT_EQ(Json::parse(c.resolved_json()),
            Json::parse(R"({"model": "gpt2", "tokenizer": {"path": "t.json"}})"));
}

}  // namespace
}  // namespace xai
