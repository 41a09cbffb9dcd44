// docs/config.md against the config reader: the keys its table documents are the keys an
// experiment is read with. The accepted keys are those read_plan records in the resolved
// configuration (every key read, defaults included) over the shipped experiments and one that
// takes every optional branch (synthetic model, a model's own dataset, the faithfulness metrics
// with each sub-key, pruning, outputs); the documented keys are the first cell of each table row.
// A few rows stand for the keys under them (`models[].synthetic` for its fields), and
// explainers' own parameters are docs/explainers.md's, so only `name` and `method` count here.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "framework/run/plan.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

void leaves(const nlohmann::json& j, const std::string& path, std::set<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) leaves(v, path.empty() ? k : path + "." + k, out);
  } else if (j.is_array() && !j.empty() && j[0].is_object()) {
    for (const auto& e : j) leaves(e, path + "[]", out);
  } else {
    out.insert(path);
  }
}

std::set<std::string> accepted_keys() {
  test::TempDir dir;
  const std::string every = dir.file("every.yaml");
  std::ofstream(every)
      << "name: every\noutput: " << dir.file("out") << "\n"
      << "models:\n"
         "  - {name: syn, synthetic: {family: llama, layers: 1, hidden: 32, heads: 2, kv_heads: "
         "1,\n"
         "     head_dim: 16, intermediate: 64, vocab: 300, max_positions: 64, dtype: float32,\n"
         "     seed: 1}, dtype: auto}\n"
         "  - {name: gpt2, path: datasets/toy/models/toy_gpt2,\n"
         "     dataset: {type: toy, path: datasets/toy/data/test.json, limit: 1}}\n"
         "dataset: {type: toy, path: datasets/toy/data/test.json, limit: 2}\n"
         "explainers: [{name: rollout}, {name: attattr, steps: 2}]\n"
         "metrics:\n"
         "  perturbation: {steps: 3, batch_size: 4, removal: replace, token: '5', eraser: [10]}\n"
         "  pruning: {explainer: attattr, steps: 3}\n"
         "outputs: {overlays: true, trees: false}\n";
  std::set<std::string> keys;
  std::vector<std::string> files = {every};
  for (const char* c : {"configs/demo.yaml", "configs/encoders.yaml", "configs/images.yaml"})
    files.push_back(std::string(XAI_SOURCE_DIR) + "/" + c);
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(XAI_SOURCE_DIR);
  for (const auto& f : files) {
    const Plan p = read_plan(f, {"output=" + dir.file("o")});
    leaves(nlohmann::json::parse(p.resolved_json), "", keys);
  }
  std::filesystem::current_path(cwd);
  std::set<std::string> out;
  const std::regex param(R"(^explainers\[\]\.(?!name$|method$).*)");
  for (const auto& k : keys)
    if (!std::regex_match(k, param)) out.insert(k);
  return out;
}

std::set<std::string> documented_keys() {
  std::ifstream f(std::string(XAI_SOURCE_DIR) + "/docs/config.md");
  EXPECT_TRUE(f.good());
  std::set<std::string> keys;
  std::string line;
  const std::regex code("`([a-z_\\[\\].]+)`");
  while (std::getline(f, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::string cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(cell.begin(), cell.end(), code), end; it != end; ++it)
      keys.insert((*it)[1]);
  }
  return keys;
}

bool under(const std::string& doc, const std::string& key) {
  return key == doc || key.rfind(doc + ".", 0) == 0 || key.rfind(doc + "[]", 0) == 0;
}

// Rows that describe the keys under them in their text (`{name, path, dtype}`, the synthetic
// model's fields, a model's own dataset, the pruning mapping); every other key has its own row.
bool covers(const std::string& doc, const std::string& key) {
  static const std::set<std::string> kGroups = {
      "models[]", "models[].synthetic", "models[].dataset", "metrics.pruning", "explainers[]"};
  return key == doc || (kGroups.count(doc) && under(doc, key));
}

TEST(ConfigDocs, DocumentedKeysAreTheAcceptedKeys) {
  const std::set<std::string> accepted = accepted_keys(), documented = documented_keys();
  ASSERT_GT(accepted.size(), 30u);
  ASSERT_GT(documented.size(), 30u);
  for (const auto& k : accepted) {
    bool found = false;
    for (const auto& d : documented) found = found || covers(d, k);
    EXPECT_TRUE(found) << "accepted but not in docs/config.md's table: " << k;
  }
  for (const auto& d : documented) {
    bool found = false;
    for (const auto& k : accepted) found = found || under(d, k);
    EXPECT_TRUE(found) << "in docs/config.md's table but not read by the config reader: " << d;
  }
}

}  // namespace
}  // namespace xai
