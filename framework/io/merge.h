// merge_shards: OUT/shards/rank-*.h5 -> OUT/results.h5, the same layout (results.h) with the
// samples of each model sorted by id and unique, so the result does not depend on the rank count
// or the order of work. Equal inputs give byte-identical files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xai {

struct MergeOptions {
  // Root attributes of results.h5; they replace the shards' values of the same keys.
  std::map<std::string, std::string> provenance;
  // Memory for one field (e.g. one explainer's per_target) at a time; a field larger than this
  // is gathered in several passes over the shards. Peak use is about 1.25 x this (plus the
  // per-row offsets and ids of all shards).
  int64_t memory_budget_bytes = int64_t{512} << 20;
};

struct MergeSummary {
  std::string output;               // OUT/results.h5
  std::vector<std::string> shards;  // inputs, by rank
  int64_t samples = 0;              // unique (model, sample) rows written
  std::map<std::string, int64_t> samples_per_model;
  int64_t explanations = 0;        // explainer rows written, over all models and explainers
  int64_t duplicates = 0;          // sample rows dropped: same (model, id) seen earlier
  int64_t failures = 0;            // failure rows written
  int64_t duplicate_failures = 0;  // identical failure rows dropped
  // Attribute values that differ between shards ("key: kept 'a' from X, ignored 'b' from Y").
  std::vector<std::string> conflicts;
};

// Reads every OUT/shards/rank-*.h5 (by rank) and writes OUT/results.h5 atomically (a temporary
// file renamed into place). Of duplicate samples (possible after a resume) the one in the lowest
// rank's shard, earliest row, is kept; its explanations come from the same shard. Failures are
// sorted and exact duplicates dropped. Throws xai::Error naming the shard for a damaged shard, or
// when there are no shards.
MergeSummary merge_shards(const std::string& out_dir, const MergeOptions& options = {});

}  // namespace xai
