// ProgressBoard: how far each rank of a run is, through tiny files beside the shards
// (OUT/shards/rank-XXXXX.progress, "done total state"), so rank 0 can show the whole run's
// progress without any rank waiting for another: a rank posts at most every `interval_s` (and
// when it finishes); rank 0 reads the board when it redraws. The output folder is shared by all
// ranks anyway (shards are merged from it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xai {

struct RankProgress {
  int64_t done = 0, total = 0;
  bool finished = false;  // the rank has closed its shard (or stopped on a signal)
  bool seen = false;      // a post was found
};

class ProgressBoard {
 public:
  ProgressBoard(std::string shards_dir, int rank, int world_size, double interval_s = 2.0);

  // Posts this rank's numbers when `interval_s` has passed since the last post (or `force`).
  // Writes a temporary file and renames it, so a reader never sees half a post. Throws
  // xai::Error naming the file when it cannot be written.
  void post(int64_t done, int64_t total, bool finished, bool force = false);
  // Every rank's latest post, by rank (a rank not posted yet: seen = false).
  std::vector<RankProgress> read() const;
  // Removes this rank's file.
  void remove() const;

  static std::string path(const std::string& shards_dir, int rank);

 private:
  std::string dir_;
  int rank_, size_;
  double interval_;
  double last_post_ = -1e300;
};

}  // namespace xai
