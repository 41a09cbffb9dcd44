// The dataset registry: type name -> reader.
#include "datasets/dataset.h"

#include "datasets/jsonl.h"
#include "datasets/squad.h"
#include "datasets/toy/toy_task.h"
#include "framework/common/error.h"
#include "framework/config/config.h"

namespace xai {
namespace {

std::unique_ptr<Dataset> open_toy(const DatasetOptions& o) {
  toy::ToyOptions t;
  t.split = o.split;
  t.n = o.limit > 0 ? o.limit : 500;
  t.seed = o.seed;
  const std::vector<toy::ToyQuestion> questions = toy::generate_toy(t);
  return open_squad_json(toy::toy_to_squad(questions, "toy-" + o.split), "toy:" + o.split, o);
}

}  // namespace

std::vector<std::string> dataset_types() { return {"squad", "jsonl", "toy"}; }

std::unique_ptr<Dataset> open_dataset(const std::string& type, const DatasetOptions& options) {
  XAI_CHECK(options.limit >= 0, "dataset: limit must not be negative (got ", options.limit, ")");
  if (type == "squad") return open_squad(options);
  if (type == "jsonl") return open_jsonl(options);
  if (type == "toy") return open_toy(options);
  throw Error(str_cat("dataset type '", type, "' is not known (known: squad, jsonl, toy)"));
}

std::unique_ptr<Dataset> open_dataset(const ConfigNode& node) {
  DatasetOptions o;
  const std::string type = node.get_choice("type", "squad", dataset_types());
  o.path = node.get_string("path", o.path);
  o.split = node.get_choice("split", o.split, {"train", "test"});
  // A limit of 0 or less is a mistake, never "all": leave the key out to read every sample.
  if (node.has("limit") || type == "toy") {
    o.limit = node.get_int("limit", 500);
    XAI_CHECK(o.limit >= 1, node.where("limit"), "must be at least 1 (got ", o.limit,
              "; HINT: leave limit out to read every sample)");
  }
  const int64_t seed = node.get_int("seed", 0);
  XAI_CHECK(seed >= 0, node.where("seed"), "must not be negative (got ", seed, ")");
  o.seed = static_cast<uint64_t>(seed);
  o.prompt_template = node.get_string("prompt_template", o.prompt_template);
  o.target_template = node.get_string("target_template", o.target_template);
  o.explain = node.get_choice("explain", o.explain, {"context", "prompt"});
  return open_dataset(type, o);
}

std::vector<Sample> read_all(const Dataset& dataset) {
  std::vector<Sample> out;
  out.reserve(static_cast<size_t>(dataset.size()));
  for (int64_t i = 0; i < dataset.size(); ++i) out.push_back(dataset.get(i));
  return out;
}

}  // namespace xai
