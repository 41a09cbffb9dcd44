// Datasets: readers that turn files (SQuAD JSON, JSONL) or the toy generator into xai::Samples,
// and the registry that opens one by type name.
//
// A dataset is opened whole (file-level problems throw at open), then read one sample at a time:
// get(i) throws an xai::Error for a bad sample (missing field, answer_start not at the answer),
// naming the file and the sample, so a pipeline can record the failure and go on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/text/encoded.h"

namespace xai {

class ConfigNode;

struct DatasetOptions {
  std::string path;            // squad, jsonl: the file; image_folder: the folder
  std::string split = "test";  // toy: "train" or "test"
  int64_t limit = 0;           // keep the first `limit` samples; 0 = all (toy: 500)
  uint64_t seed = 0;           // toy: generator seed (datasets/toy/data/test.json is seed 0)
  int64_t image_size = 32;     // toy_shapes: the generated images' size in pixels
  // squad, toy. Placeholders: {context}, {question}, {answer}, {title}.
  std::string prompt_template = "{context}\nQuestion: {question}\nAnswer:";
  std::string target_template = " {answer}";
  // squad, toy: "context" explains the tokens of {context} in the prompt; "prompt" explains every
  // prompt token (Sample::explain left empty). jsonl: a line's own "explain" spans, else all.
  std::string explain = "context";
  // Two samples with the same id: an error naming both before any work (the results are keyed by
  // id, so one would silently replace the other), or, with `rename_duplicate_ids`, the second
  // becomes "id#2", the third "id#3", and so on, in file order.
  bool rename_duplicate_ids = false;
  // Explain the tokenizer's special tokens in the prompt too (a BOS, chat markers): off, they get
  // no score from any explainer; on, to see attention sinks. Sets Sample::explain_special_tokens.
  bool explain_special_tokens = false;
  // "given": explain the dataset's targets; "generate": the model's own answers (up to
  // max_new_tokens, ending at its EOS or after `stop`), scored by their exact match with the
  // dataset's (Sample::generate).
  std::string target = "given";
  int64_t max_new_tokens = 16;
  std::string stop;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  // What the samples come from, for messages: the file, or "toy:test".
  virtual const std::string& source() const = 0;
  virtual int64_t size() const = 0;
  // The id of sample i (never throws for 0 <= i < size(); a sample without an id gets one made
  // from its position, e.g. "dev-v1.1#17").
  virtual std::string id(int64_t i) const = 0;
  // Sample i; throws xai::Error naming the source, the sample and the problem.
  virtual Sample get(int64_t i) const = 0;
  // Where sample i is in the source, for messages: "line 12" (JSONL), else "entry 13".
  virtual std::string locate(int64_t i) const;
  // Entries left out when reading, and why ("unanswerable (SQuAD v2 is_impossible)").
  // dataset.target: generate: the most tokens the model generates as a sample's target (the
  // planner sizes each sample by it); 0 when the targets are given.
  virtual int64_t generated_tokens() const { return 0; }
  virtual int64_t skipped() const { return 0; }
  virtual std::string skipped_reason() const { return ""; }
};

// type: "squad" | "jsonl" | "toy" | "toy_classify" | "glue" | "image_folder" | "toy_shapes". Throws
// xai::Error for an unknown type, a bad option (unknown template placeholder, explain not
// context|prompt), a file that cannot be read as a whole, or two samples with the same id (see
// DatasetOptions::rename_duplicate_ids).
std::unique_ptr<Dataset> open_dataset(const std::string& type, const DatasetOptions& options);
std::vector<std::string> dataset_types();

// The same from a YAML mapping {type, path, split, limit, seed, image_size, prompt_template,
// target_template, explain, duplicate_ids: error|rename, explain_special_tokens}; reads only those
// keys (call finish() on the node or finish_all() afterwards).
std::unique_ptr<Dataset> open_dataset(const ConfigNode& node);

// Every sample of a dataset, stopping at the first bad one (for tools and tests).
std::vector<Sample> read_all(const Dataset& dataset);

}  // namespace xai
