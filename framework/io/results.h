// What an xai run stores: one SampleRecord per (model, sample), one ExplanationRecord per
// explainer that succeeded on it, failures, and the attributes that say how the results were made.
// Plain values (no LibTorch); ShardWriter, merge_shards and ResultsReader move them to and from
// HDF5.
//
// HDF5 layout, schema_version 1. Shards (out/shards/rank-XXXXX.h5) and the merged out/results.h5
// share it; in results.h5 the samples of each model are sorted by id (byte order) and unique.
// Ragged data is CSR: a flat `values` (or `bytes`) dataset plus int64 `offsets` (N+1 entries,
// offsets[0] = 0, row i = [offsets[i], offsets[i+1])). Strings are UTF-8 bytes in the same form.
// Every dataset is chunked and extendible along its first dimension, with shuffle + deflate; there
// are no variable-length HDF5 types. Objects carry no timestamps, so a merge is byte-reproducible.
//
//   /                                  attributes: schema_version (int64), xai_kind ("shard" or
//                                      "results"), xai_rank (int64, shards only), and one
//                                      fixed-length string per provenance key (config, git commit,
//                                      versions, hostname, world size, ...)
//   /models/<model>/samples/           N samples
//       id/{bytes uint8, offsets int64[N+1]}            sample id
//       tokens/{values int64, offsets int64[N+1]}       token ids, T per sample
//       token_offsets/{values int64[sum T, 2], offsets} [begin, end) bytes of each token
//       prompt_len int64[N]
//       explain_mask/{values uint8, offsets}            1 = position gets a relevance score
//       evidence/{values float32, offsets}              T values, or 0 when there is none
//       prompt/{bytes uint8, offsets}, target/{bytes uint8, offsets}
//   /models/<model>/explainers/<name>/ M rows, one per sample the explainer succeeded on;
//                                      attribute `parameters` (JSON text)
//       sample int64[M]                                 row in ../../samples
//       relevance/{values float32, offsets int64[M+1]}  T per row
//       per_target/{values float32, offsets, n_targets int64[M]}   n_targets x T per row, row-major
//       metrics/<metric> float64[M]                     NaN = not computed for that row;
//                                      attributes higher_is_better (int64 0/1), description
//       cost/<field> float64[M]                         seconds, forward_passes, peak_bytes, ...;
//                                                       NaN = not recorded
//       extras/<extra>/{values float32, offsets int64[M+1]}    the method's extra outputs
//                                      (Explanation::extras), one row-major array per row;
//       extras/<extra>/shape/{values int64, offsets int64[M+1]}  its dimensions. A row without
//                                      the extra has no values and no dimensions (a scalar has
//                                      1 value and no dimensions)
//   /failures/{model, sample, explainer, message}/{bytes, offsets}   explainer "" = whole sample
//
// Model, explainer, metric and cost names become HDF5 link names: non-empty, not ".", no '/'.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/text/tokenizer.h"  // ByteSpan

namespace xai {

constexpr int64_t kResultsSchemaVersion = 1;

// A method's extra output (e.g. integrated_gradients' convergence_delta, (n_targets)), stored as
// float32 whatever its tensor type was.
struct ExtraArray {
  std::vector<int64_t> shape;  // dimensions; empty for a scalar
  std::vector<float> values;   // row-major, product(shape) entries
};

struct ExplanationRecord {
  std::vector<float> relevance;           // (T) aggregated, what metrics read
  int64_t n_targets = 0;                  //
  std::vector<float> per_target;          // (n_targets, T) row-major, the method's raw scores
  std::map<std::string, double> metrics;  // metric name -> value
  std::map<std::string, double> cost;     // seconds, forward_passes, backward_passes, peak_bytes...
  std::map<std::string, ExtraArray> extras;  // name -> the method's extra output
};

struct SampleRecord {
  std::string model;
  std::string sample_id;
  std::vector<int64_t> tokens;          // (T)
  std::vector<ByteSpan> token_offsets;  // (T)
  int64_t prompt_len = 0;
  std::vector<uint8_t> explain_mask;  // (T) 1 = gets a relevance score
  std::vector<float> evidence;        // (T), or empty when the dataset has no ground truth
  std::string prompt;
  std::string target;  // the target text, or a classification sample's class name
  std::map<std::string, ExplanationRecord> explanations;  // explainer name -> result

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }  // T
};

struct Failure {
  std::string model;
  std::string sample_id;
  std::string explainer;  // "" = the whole sample failed
  std::string message;
};

// Metric metadata, stored beside the values (Quantus style).
struct MetricInfo {
  bool higher_is_better = true;
  std::string description;
};

struct ExplainerInfo {
  std::string parameters_json = "{}";  // the explainer's resolved parameters
  // What those parameters mean in a few words (Explainer::settings), for the summary's row.
  std::string settings;
  std::map<std::string, MetricInfo> metrics;  // metrics computed on this explainer's relevance
};

// Attributes given once per file.
struct ResultsMeta {
  std::map<std::string, std::string> provenance;  // root attributes: config, git_commit, ...
  std::map<std::string, ExplainerInfo> explainers;
  // A resume the user let go on across changed explainer parameters (--allow-changed): a shard
  // that holds an explainer with other parameters is appended to anyway (the provenance says so).
  bool accept_changed_parameters = false;
};

// Identifies one (model, sample): the unit the journal records and resume skips.
struct SampleKey {
  std::string model;
  std::string sample_id;
  bool operator<(const SampleKey& o) const {
    return model != o.model ? model < o.model : sample_id < o.sample_id;
  }
  bool operator==(const SampleKey& o) const { return model == o.model && sample_id == o.sample_id; }
};

// Rows of varying length, CSR style: row i is values[offsets[i] .. offsets[i+1]).
template <typename T>
struct Ragged {
  std::vector<T> values;
  std::vector<int64_t> offsets{0};

  size_t rows() const { return offsets.size() - 1; }
  int64_t row_size(size_t i) const { return offsets[i + 1] - offsets[i]; }
  const T* row_data(size_t i) const { return values.data() + offsets[i]; }
  std::vector<T> row(size_t i) const {
    return std::vector<T>(values.begin() + offsets[i], values.begin() + offsets[i + 1]);
  }
  void push_row(const T* data, size_t n) {
    values.insert(values.end(), data, data + n);
    offsets.push_back(static_cast<int64_t>(values.size()));
  }
};

// Throws xai::Error naming the model, sample and explainer when sizes disagree (token_offsets,
// explain_mask, relevance must have T entries; evidence T or 0; per_target n_targets * T; an
// extra product(shape) with no negative dimension) or a name cannot be stored (empty, ".", or
// containing '/').
void validate_record(const SampleRecord& record);
// Same rule for a model, explainer, metric, cost or extra name; `what` says which, for the message.
void validate_name(const std::string& name, const std::string& what);

bool operator==(const ExtraArray& a, const ExtraArray& b);
bool operator==(const ExplanationRecord& a, const ExplanationRecord& b);
bool operator==(const SampleRecord& a, const SampleRecord& b);
bool operator==(const Failure& a, const Failure& b);
bool operator<(const Failure& a, const Failure& b);
bool operator==(const MetricInfo& a, const MetricInfo& b);
bool operator==(const ExplainerInfo& a, const ExplainerInfo& b);
inline bool operator!=(const SampleRecord& a, const SampleRecord& b) { return !(a == b); }

}  // namespace xai
