// ShardWriter: one per rank. Buffers finished samples and appends them to
// OUT/shards/rank-XXXXX.h5 on flush, then records their keys in OUT/shards/rank-XXXXX.journal,
// so a crash loses at most what was not flushed and the journal never lists a sample the shard
// lacks. Layout: see results.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/results.h"

namespace xai {

std::string shards_dir(const std::string& out_dir);              // OUT/shards
std::string shard_path(const std::string& out_dir, int rank);    // OUT/shards/rank-00003.h5
std::string journal_path(const std::string& out_dir, int rank);  // OUT/shards/rank-00003.journal
// The journal that belongs to a shard file (rank-00003.h5 -> rank-00003.journal).
std::string journal_path_for(const std::string& shard_file);
// The file that exists while a flush of the shard is under way (rank-00003.flushing): one left
// behind says the last flush never finished (a crash, a full disk), so resume rebuilds the shard.
std::string flushing_marker_for(const std::string& shard_file);

// When to flush: after `every_samples` buffered samples or failures, or when `every_seconds`
// have passed since the last flush (checked when something is added; 0 disables a rule; (0, 0)
// flushes only on flush()/close()). A flush costs ~10-30 ms for a T=512 sample with three
// explainers (it recompresses the last chunk of every dataset and fsyncs twice), so the default
// bounds the work a crash can lose by time: 5 s or 256 samples. FlushPolicy(1, 0) flushes after
// every sample, so a crash loses only the sample in flight.
class FlushPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  FlushPolicy(int64_t every_samples = 256, double every_seconds = 5.0)
      : every_samples_(every_samples), every_seconds_(every_seconds) {}

  bool due(int64_t pending, Clock::time_point now) const {
    if (pending <= 0) return false;
    if (every_samples_ > 0 && pending >= every_samples_) return true;
    return every_seconds_ > 0 &&
           std::chrono::duration<double>(now - last_flush_).count() >= every_seconds_;
  }
  void flushed(Clock::time_point now) { last_flush_ = now; }

 private:
  int64_t every_samples_;
  double every_seconds_;
  Clock::time_point last_flush_ = Clock::now();
};

class ShardWriter {
 public:
  // Creates OUT/shards/rank-XXXXX.h5 and its journal, or reopens them to append (resume): the
  // schema version must match, and an explainer already in the shard must have the same
  // parameters. Root attributes are (re)written from `meta`. A shard that cannot be opened
  // throws xai::Error naming it (HINT: quarantine_shard moves it aside).
  // `headroom_bytes` of disk are held in OUT/shards/rank-XXXXX.reserve (removed at close) and a
  // flush first checks that what else is free takes about twice its bytes: else it throws "no
  // space left on device" without touching the shard, so everything flushed before stays
  // readable. The reserve is released just before each write, so the flush fits even when
  // something else fills the disk in between. 0 turns both off.
  ShardWriter(const std::string& out_dir, int rank, ResultsMeta meta, FlushPolicy policy = {},
              int64_t headroom_bytes = kDefaultHeadroomBytes);
  static constexpr int64_t kDefaultHeadroomBytes = int64_t{16} << 20;
  // Records not flushed are dropped, as in a crash: call close() to keep them.
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Buffers a finished sample (validated: sizes and names, see validate_record); flushes when the
  // policy says so.
  void add(SampleRecord record);
  // Buffers a failure. A whole-sample failure (explainer "") also marks the sample as done: it is
  // journaled and read_journal/verify_shard report it as finished, so resume does not retry it.
  void add_failure(Failure failure);
  // Appends everything buffered to the shard, makes it durable (H5Fflush + fsync), then appends the
  // keys to the journal and fsyncs it. After a failed flush the writer refuses further use and
  // never closes the shard (closing would write HDF5's cached metadata over the last consistent
  // state); a resumed run repairs it. A full disk is said as "no space left on device".
  void flush();
  // flush(), then closes the file. Further calls throw.
  void close();

  int64_t pending() const;  // buffered samples + failures
  const std::string& path() const;
  const std::string& journal() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xai
