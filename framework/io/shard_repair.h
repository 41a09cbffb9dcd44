// Repairs a shard whose last flush was cut short (a full disk, a crash in the middle of a flush):
// the samples its journal lists were flushed whole before, so every dataset is cut back to their
// rows and the shard is consistent again, instead of being set aside with all its samples.
// Internal to framework/io (scan_shards uses it when a resumed run finds a damaged shard).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "framework/io/results.h"

namespace xai {

struct RepairedShard {
  int64_t kept = 0;                         // sample rows kept, over all models
  std::vector<std::string> dropped_models;  // model groups that could not be read at all
  std::string original;                     // where the damaged file was moved
};
// Copies what can be read of the shard at `path` into a fresh file, cuts every dataset there back
// to the sample rows of each model that come before the first row `journaled` does not list (a
// whole, readable row) and the failures to their consistent rows, checks it (verify_shard), and
// puts it in the shard's place; the damaged file is kept beside it as <path>.damaged-<n>. Throws
// xai::Error when the shard cannot be repaired that way (the caller then sets it aside).
RepairedShard repair_shard(const std::string& path, const std::set<SampleKey>& journaled);

}  // namespace xai
