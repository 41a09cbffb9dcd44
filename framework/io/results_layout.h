// The results HDF5 layout (documented in results.h) as code: names, chunking, CSR groups, and the
// structural checks shared by ShardWriter, ResultsReader, verify_shard and merge_shards.
// Internal to framework/io.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/io/hdf5.h"
#include "framework/io/results.h"

namespace xai::layout {

// Root attribute names the layout reserves (provenance keys may not use them).
inline constexpr char kSchemaVersionAttr[] = "schema_version";
inline constexpr char kKindAttr[] = "xai_kind";
inline constexpr char kRankAttr[] = "xai_rank";
inline constexpr char kKindShard[] = "shard";
inline constexpr char kKindResults[] = "results";
inline constexpr char kParametersAttr[] = "parameters";
inline constexpr char kSettingsAttr[] = "settings";
inline constexpr char kHigherIsBetterAttr[] = "higher_is_better";
inline constexpr char kDescriptionAttr[] = "description";

// Sample fields stored as CSR groups, in the order they are written.
enum class Elem { kU8, kI64, kF32, kF64 };
struct CsrField {
  const char* name;
  Elem elem;
  int64_t width;  // elements per row of `values` (token_offsets: 2)
  bool is_bytes;  // a string: member `bytes` instead of `values`
};
const std::vector<CsrField>& sample_fields();  // id, tokens, token_offsets, explain_mask, ...
inline constexpr char kPromptLen[] = "prompt_len";

// Chunk sizes and deflate levels. Shards are appended in small flushes, and every flush
// recompresses the partial last chunk of each dataset: smaller chunks and deflate level 1 keep a
// flush cheap (level 1 costs ~1% in size on float32 relevance). results.h5 is written once, in
// large blocks, and read by row ranges: larger chunks and level 4.
struct Chunking {
  int64_t values_bytes;  // bytes per chunk of a flat values/bytes dataset
  int64_t column_rows;   // rows per chunk of a per-row column and of offsets
  int deflate_level;
};
inline constexpr Chunking kShardChunking{32 << 10, 1024, 1};
inline constexpr Chunking kResultsChunking{256 << 10, 8192, 4};

size_t elem_size(Elem e);

// One CSR group: <parent>/<name>/{values|bytes, offsets}.
class Csr {
 public:
  static Csr create(h5::Group& parent, const std::string& name, Elem elem, int64_t width,
                    bool is_bytes, const Chunking& chunking);
  static Csr open(const h5::Group& parent, const std::string& name);

  int64_t rows() const { return offsets_.rows() - 1; }
  h5::Group& group() { return group_; }
  const h5::Dataset& values() const { return values_; }
  // The validated offsets: N+1 entries from 0, non-decreasing, last = values rows.
  std::vector<int64_t> read_offsets() const;
  // Appends rows; `lengths` counts rows of `values` (tokens, not token_offsets elements).
  template <typename T>
  void append(const std::vector<T>& flat, const std::vector<int64_t>& lengths);
  template <typename T>
  Ragged<T> read_all() const;

 private:
  void append_offsets(const std::vector<int64_t>& lengths, int64_t appended_rows);
  h5::Group group_;
  h5::Dataset values_;
  h5::Dataset offsets_;
};

void append_strings(Csr& csr, const std::vector<std::string>& strings);
std::vector<std::string> read_strings(const Csr& csr);

h5::Dataset create_column(h5::Group& parent, const std::string& name, Elem elem,
                          const Chunking& chunking);

// /models/<model>/samples with every field empty.
h5::Group create_samples_group(h5::Group& model_group, const Chunking& chunking);
// /models/<model>/explainers/<name> with its parameters, and a metric column (with metadata)
// for each declared metric.
h5::Group create_explainer_group(h5::Group& model_group, const std::string& name,
                                 const ExplainerInfo* info, const Chunking& chunking);
// <explainer>/<kind>/<name> (kind: "metrics" or "cost"), backfilled with NaN for the `rows` rows
// already there; attaches metric metadata when `info` is given.
h5::Dataset require_value_column(h5::Group& explainer, const std::string& kind,
                                 const std::string& name, int64_t rows, const MetricInfo* info,
                                 const Chunking& chunking);
ExplainerInfo read_explainer_info(const h5::Group& explainer);

// <explainer>/extras/<name>: a float32 CSR of values with a nested int64 CSR `shape`, one row per
// explainer row. require_extra creates it, backfilled with `rows` empty rows (no extra there).
inline constexpr char kExtrasGroup[] = "extras";
inline constexpr char kShapeCsr[] = "shape";
struct ExtraCsr {
  Csr values;
  Csr shape;
};
ExtraCsr require_extra(h5::Group& explainer, const std::string& name, int64_t rows,
                       const Chunking& chunking);
ExtraCsr open_extra(const h5::Group& explainer, const std::string& name);
std::vector<std::string> extra_names(const h5::Group& explainer);  // sorted; none in old files

void write_root_attributes(h5::Group& root, const char* kind, int64_t rank,
                           const std::map<std::string, std::string>& provenance);
std::map<std::string, std::string> read_provenance(const h5::Group& root);
// Throws unless the file says schema_version <= kResultsSchemaVersion.
int64_t check_schema_version(const h5::Group& root);

// Appends records (and their explanations) to the file, creating groups and columns as needed.
void append_records(h5::Group& root, const std::vector<SampleRecord>& records,
                    const ResultsMeta& meta, const Chunking& chunking);
void append_failures(h5::Group& root, const std::vector<Failure>& failures,
                     const Chunking& chunking);
std::vector<Failure> read_failures(const h5::Group& root);

// What a file holds per model, checked for structural consistency.
struct ExplainerIndex {
  std::string name;
  std::vector<int64_t> sample;  // (M) row in the model's samples
};
struct ModelIndex {
  std::string name;
  std::vector<std::string> ids;  // (N)
  std::vector<ExplainerIndex> explainers;
};
// Reads ids and explainer sample columns and checks that every CSR and column has the right
// number of rows and valid offsets. `deep` also reads every values dataset through, so a damaged
// compressed chunk is found. Throws xai::Error naming the file and object.
std::vector<ModelIndex> read_index(const h5::Group& root, bool deep);

}  // namespace xai::layout
