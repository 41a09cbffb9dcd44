// The dataset registry: type name -> reader.
#include "datasets/dataset.h"

#include <cstdio>
#include <map>
#include <set>

#include "datasets/glue.h"
#include "datasets/image_folder.h"
#include "datasets/jsonl.h"
#include "datasets/squad.h"
#include "datasets/toy/toy_classify.h"
#include "datasets/toy/toy_shapes.h"
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

// Samples held in memory (the generated toy classification texts).
class InMemory final : public Dataset {
 public:
  InMemory(std::string source, std::vector<Sample> samples)
      : source_(std::move(source)), samples_(std::move(samples)) {}
  const std::string& source() const override { return source_; }
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  std::string id(int64_t i) const override { return at(i).id; }
  Sample get(int64_t i) const override { return at(i); }

 private:
  const Sample& at(int64_t i) const {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return samples_[static_cast<size_t>(i)];
  }
  std::string source_;
  std::vector<Sample> samples_;
};

std::unique_ptr<Dataset> open_toy_classify(const DatasetOptions& o) {
  toy::ToyClassOptions t;
  t.split = o.split;
  t.n = o.limit > 0 ? o.limit : 500;
  t.seed = o.seed;
  // The whole text is the context: every token is explained, the cue phrase is the evidence.
  std::vector<Sample> samples = toy::generate_toy_classification(t);
  return std::make_unique<InMemory>("toy_classify:" + o.split, std::move(samples));
}

// The toy image task, each image made when it is read (500 images need no memory up front).
class ToyShapes final : public Dataset {
 public:
  explicit ToyShapes(const DatasetOptions& o) : source_("toy_shapes:" + o.split) {
    opts_.split = o.split;
    opts_.n = o.limit > 0 ? o.limit : 500;
    opts_.seed = o.seed;
    opts_.size = o.image_size;
    XAI_CHECK(opts_.size >= 16 && opts_.size <= 1024,
              "toy_shapes: image_size must be 16 to 1024 "
              "pixels (got ",
              opts_.size, ")");
  }
  const std::string& source() const override { return source_; }
  int64_t size() const override { return opts_.n; }
  std::string id(int64_t i) const override {
    char id[64];
    std::snprintf(id, sizeof(id), "toy-shape-%s-%05lld", opts_.split.c_str(),
                  static_cast<long long>(i));
    return id;
  }
  Sample get(int64_t i) const override {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return toy::toy_shape_sample(opts_, i);
  }

 private:
  std::string source_;
  toy::ToyShapeOptions opts_;
};

// Forwards everything to another dataset; the decorators below override what they change.
class Decorated : public Dataset {
 public:
  explicit Decorated(std::unique_ptr<Dataset> inner) : inner_(std::move(inner)) {}
  const std::string& source() const override { return inner_->source(); }
  int64_t size() const override { return inner_->size(); }
  std::string id(int64_t i) const override { return inner_->id(i); }
  Sample get(int64_t i) const override { return inner_->get(i); }
  std::string locate(int64_t i) const override { return inner_->locate(i); }
  int64_t generated_tokens() const override { return inner_->generated_tokens(); }
  int64_t skipped() const override { return inner_->skipped(); }
  std::string skipped_reason() const override { return inner_->skipped_reason(); }

 private:
  std::unique_ptr<Dataset> inner_;
};

// A dataset whose repeated ids are renamed: "id#2", "id#3", ... (skipping any that exist).
class RenamedIds final : public Decorated {
 public:
  RenamedIds(std::unique_ptr<Dataset> inner, std::map<int64_t, std::string> renamed)
      : Decorated(std::move(inner)), renamed_(std::move(renamed)) {}
  std::string id(int64_t i) const override {
    auto it = renamed_.find(i);
    return it == renamed_.end() ? Decorated::id(i) : it->second;
  }
  Sample get(int64_t i) const override {
    Sample s = Decorated::get(i);
    s.id = id(i);
    return s;
  }

 private:
  std::map<int64_t, std::string> renamed_;
};

// A dataset whose targets the model generates (dataset.target: generate).
class GeneratedTargets final : public Decorated {
 public:
  GeneratedTargets(std::unique_ptr<Dataset> inner, Sample::Generate g)
      : Decorated(std::move(inner)), generate_(std::move(g)) {}
  Sample get(int64_t i) const override {
    Sample s = Decorated::get(i);
    s.generate = generate_;
    return s;
  }
  int64_t generated_tokens() const override { return generate_.max_new_tokens; }

 private:
  Sample::Generate generate_;
};

// A dataset whose samples also explain the tokenizer's special tokens.
class SpecialTokensExplained final : public Decorated {
 public:
  using Decorated::Decorated;
  Sample get(int64_t i) const override {
    Sample s = Decorated::get(i);
    s.explain_special_tokens = true;
    return s;
  }
};

// Results are keyed by sample id: two samples with one id would both be computed and one of them
// silently dropped at the merge. Refuse them, or rename them when asked.
std::unique_ptr<Dataset> check_unique_ids(std::unique_ptr<Dataset> d, bool rename) {
  std::map<std::string, int64_t> first;  // id -> first index
  std::vector<int64_t> repeats;
  for (int64_t i = 0; i < d->size(); ++i) {
    const auto [it, fresh] = first.emplace(d->id(i), i);
    if (fresh) continue;
    if (!rename) {
      throw Error(str_cat(d->source(), ": sample id '", it->first, "' is used twice (",
                          d->locate(it->second), " and ", d->locate(i),
                          "); results are keyed by id, so one would replace the other. HINT: ",
                          "give each sample its own id, or set dataset.duplicate_ids: rename"));
    }
    repeats.push_back(i);
  }
  if (repeats.empty()) return d;
  std::set<std::string> taken;
  for (const auto& kv : first) taken.insert(kv.first);
  std::map<std::string, int> seen;
  std::map<int64_t, std::string> renamed;
  for (int64_t i : repeats) {
    const std::string base = d->id(i);
    int& n = seen[base];
    if (n == 0) n = 1;
    std::string fresh;
    do {
      fresh = str_cat(base, "#", ++n);
    } while (taken.count(fresh));
    taken.insert(fresh);
    renamed[i] = fresh;
  }
  return std::make_unique<RenamedIds>(std::move(d), std::move(renamed));
}

std::unique_ptr<Dataset> open_unchecked(const std::string& type, const DatasetOptions& options) {
  if (type == "squad") return open_squad(options);
  if (type == "jsonl") return open_jsonl(options);
  if (type == "toy") return open_toy(options);
  if (type == "toy_classify") return open_toy_classify(options);
  if (type == "glue") return open_glue(options);
  if (type == "image_folder") return open_image_folder(options);
  if (type == "toy_shapes") return std::make_unique<ToyShapes>(options);
  throw Error(str_cat("dataset type '", type, "' is not known (known: squad, jsonl, toy, ",
                      "toy_classify, glue, image_folder, toy_shapes)"));
}

}  // namespace

std::string Dataset::locate(int64_t i) const { return str_cat("entry ", i + 1); }

std::vector<std::string> dataset_types() {
  return {"squad", "jsonl", "toy", "toy_classify", "glue", "image_folder", "toy_shapes"};
}

std::unique_ptr<Dataset> open_dataset(const std::string& type, const DatasetOptions& options) {
  XAI_CHECK(options.limit >= 0, "dataset: limit must not be negative (got ", options.limit, ")");
  std::unique_ptr<Dataset> d = open_unchecked(type, options);
  if (options.explain_special_tokens) d = std::make_unique<SpecialTokensExplained>(std::move(d));
  XAI_CHECK(options.target == "given" || options.target == "generate",
            "dataset: target must be given or generate (got '", options.target, "')");
  if (options.target == "generate") {
    XAI_CHECK(options.max_new_tokens >= 1 && options.max_new_tokens <= 4096,
              "dataset: max_new_tokens must be 1 to 4096 (got ", options.max_new_tokens, ")");
    d = std::make_unique<GeneratedTargets>(std::move(d),
                                           Sample::Generate{options.max_new_tokens, options.stop});
  }
  return check_unique_ids(std::move(d), options.rename_duplicate_ids);
}

std::unique_ptr<Dataset> open_dataset(const ConfigNode& node) {
  DatasetOptions o;
  const std::string type = node.get_choice("type", "squad", dataset_types());
  o.path = node.get_string("path", o.path);
  o.split = node.get_choice("split", o.split, {"train", "test"});
  // A limit of 0 or less is a mistake, never "all": leave the key out to read every sample.
  if (node.has("limit") || type == "toy" || type == "toy_classify" || type == "toy_shapes") {
    o.limit = node.get_int("limit", 500);
    XAI_CHECK(o.limit >= 1, node.where("limit"), "must be at least 1 (got ", o.limit,
              "; HINT: leave limit out to read every sample)");
  }
  const int64_t seed = node.get_int("seed", 0);
  XAI_CHECK(seed >= 0, node.where("seed"), "must not be negative (got ", seed, ")");
  o.seed = static_cast<uint64_t>(seed);
  o.image_size = node.get_int("image_size", o.image_size);
  XAI_CHECK(o.image_size >= 16 && o.image_size <= 1024, node.where("image_size"),
            "must be 16 to 1024 pixels (got ", o.image_size, ")");
  o.prompt_template = node.get_string("prompt_template", o.prompt_template);
  o.target_template = node.get_string("target_template", o.target_template);
  o.explain = node.get_choice("explain", o.explain, {"context", "prompt"});
  o.rename_duplicate_ids =
      node.get_choice("duplicate_ids", "error", {"error", "rename"}) == "rename";
  o.explain_special_tokens = node.get_bool("explain_special_tokens", false);
  o.target = node.get_choice("target", o.target, {"given", "generate"});
  o.max_new_tokens = node.get_int("max_new_tokens", o.max_new_tokens);
  XAI_CHECK(o.max_new_tokens >= 1 && o.max_new_tokens <= 4096, node.where("max_new_tokens"),
            "must be 1 to 4096 tokens (got ", o.max_new_tokens, ")");
  o.stop = node.get_string("stop", o.stop);
  XAI_CHECK(o.target == "generate" || !(node.has("max_new_tokens") || node.has("stop")),
            node.where(node.has("stop") ? "stop" : "max_new_tokens"),
            "only target: generate generates (HINT: dataset.target: generate)");
  return open_dataset(type, o);
}

std::vector<Sample> read_all(const Dataset& dataset) {
  std::vector<Sample> out;
  out.reserve(static_cast<size_t>(dataset.size()));
  for (int64_t i = 0; i < dataset.size(); ++i) out.push_back(dataset.get(i));
  return out;
}

}  // namespace xai
