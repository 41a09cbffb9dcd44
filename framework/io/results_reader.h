// ResultsReader: reads a results.h5 (or a shard) back into plain values, column-wise per model and
// explainer, or as SampleRecords. Layout: see results.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/results.h"

namespace xai {

// All samples of one model, column-wise; row i is sample ids[i].
struct SampleTable {
  std::vector<std::string> ids;
  Ragged<int64_t> tokens;
  Ragged<int64_t> token_offsets;  // 2 values (begin, end) per token
  std::vector<int64_t> prompt_len;
  Ragged<uint8_t> explain_mask;
  Ragged<float> evidence;  // a row is empty when the sample has no evidence
  std::vector<std::string> prompts;
  std::vector<std::string> targets;
};

// One extra output of an explainer, one row per explainer row: row j is values.row(j) shaped as
// shape.row(j). A row with neither values nor dimensions has no extra (has(j) is false).
struct ExtraColumn {
  Ragged<float> values;
  Ragged<int64_t> shape;

  bool has(size_t j) const { return values.row_size(j) > 0 || shape.row_size(j) > 0; }
  ExtraArray row(size_t j) const { return {shape.row(j), values.row(j)}; }
};

// One explainer's results for one model; row j belongs to sample row sample[j].
struct ExplainerTable {
  std::string name;
  ExplainerInfo info;  // parameters ("" when none were stored) and metric metadata
  std::vector<int64_t> sample;
  Ragged<float> relevance;
  Ragged<float> per_target;  // n_targets[j] x T per row, row-major
  std::vector<int64_t> n_targets;
  std::map<std::string, std::vector<double>> metrics;  // name -> one value per row, NaN = none
  std::map<std::string, std::vector<double>> cost;     // field -> one value per row, NaN = none
  std::map<std::string, ExtraColumn> extras;           // name -> the method's extra outputs

  size_t rows() const { return sample.size(); }
};

class ResultsReader {
 public:
  // Throws xai::Error naming the file when it cannot be opened or is not an xai results file.
  explicit ResultsReader(const std::string& path);
  ~ResultsReader();
  ResultsReader(ResultsReader&&) noexcept;
  ResultsReader& operator=(ResultsReader&&) noexcept;

  const std::string& path() const;
  int64_t schema_version() const;
  std::string kind() const;                               // "shard" or "results"
  std::map<std::string, std::string> provenance() const;  // string root attributes

  std::vector<std::string> models() const;  // sorted
  std::vector<std::string> sample_ids(const std::string& model) const;
  SampleTable samples(const std::string& model) const;
  std::vector<std::string> explainers(const std::string& model) const;  // sorted
  ExplainerInfo explainer_info(const std::string& model, const std::string& explainer) const;
  ExplainerTable explainer(const std::string& model, const std::string& explainer) const;
  // Every sample of the model with its explanations, in file order. Metric and cost values that
  // are NaN (not computed), and extras a row does not have, are left out of the maps.
  std::vector<SampleRecord> records(const std::string& model) const;
  std::vector<Failure> failures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xai
