// Repairs a shard whose last flush was cut short (a full disk, a crash in the middle of a flush):
// the samples its journal lists were flushed whole before, so they are kept in a rebuilt shard,
// instead of the shard being set aside with all its samples.
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
// Reads, from a scratch copy of the shard at `path`, the sample rows of each model that come
// before the first row `journaled` does not list (whole, readable rows only; nothing past them is
// touched), their explainer rows and the failures that read whole; writes them into a fresh shard
// with the writer's own code (nothing of the damaged file's allocation carries over), checks it
// deeply, and puts it in the shard's place; the damaged file is kept beside it as
// <path>.damaged-<n>. Needs about twice the shard's size of free disk. Throws xai::Error when the
// shard cannot be repaired that way (the caller then sets it aside).
RepairedShard repair_shard(const std::string& path, const std::set<SampleKey>& journaled);

}  // namespace xai
