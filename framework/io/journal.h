// Which samples are done (for resume), and what to do with a damaged shard.
//
// A journal (OUT/shards/rank-XXXXX.journal) is text, one finished key per line:
// "model<TAB>sample_id<LF>", with '\\', TAB, LF and CR inside a name written as \\ \t \n \r.
// Only complete lines count. A key counts as finished only when its shard holds it too, so a
// journal that ran ahead of a damaged or truncated shard is never trusted.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "framework/common/error.h"
#include "framework/io/results.h"

namespace xai {

// A shard that another process has open for writing (HDF5 file locking): busy, not damaged.
class ShardBusyError : public Error {
 public:
  using Error::Error;
};

std::string journal_line(const SampleKey& key);  // with the trailing '\n'
// Keys of the complete lines of a journal file; a missing file has none. Throws on a line that is
// not "model<TAB>sample_id", unless `damaged` is given: then such lines are skipped and their
// 1-based numbers appended there.
std::vector<SampleKey> parse_journal(const std::string& path,
                                     std::vector<int64_t>* damaged = nullptr);

// The shard files in OUT/shards (rank-<digits>.h5), sorted by rank. Quarantined files are not.
std::vector<std::string> list_shards(const std::string& out_dir);

// Opens a shard read-only, checks its structure (offsets, row counts, sample references) and
// returns what it holds: every (model, sample id) with a sample row, plus whole-sample failures.
// `deep` also decompresses every chunk. Throws a one-line xai::Error naming the file for a
// missing, truncated, corrupt or unreadable shard; ShardBusyError when a writer in another
// process has it open.
std::set<SampleKey> verify_shard(const std::string& path, bool deep = false);

// Moves a shard aside as <path>.corrupt-<n> (n: the first unused number), its journal as
// <journal>.corrupt-<n>, and writes the reason to <path>.corrupt-<n>.reason. Returns the new path.
std::string quarantine_shard(const std::string& path, const std::string& reason);

struct ShardScan {
  std::set<SampleKey> finished;            // journal keys that their shard holds, over all shards
  int64_t journal_keys = 0;                // complete journal lines read
  int64_t ignored_keys = 0;                // journal keys their shard lacks (not finished)
  std::vector<std::string> quarantined;    // "<new path>: <reason>", when quarantine was asked
  std::vector<std::string> dropped_lines;  // damaged journal lines dropped, in user words
  std::vector<std::string> repaired;       // shards cut back to their journal, in user words
};
// Reads every journal in OUT/shards and checks it against its shard. A damaged shard or journal
// line throws (naming the file) unless `quarantine_corrupt`: then a shard whose last flush was cut
// short is repaired (cut back to the samples its journal lists, see repair_shard), a shard that
// cannot be repaired is moved aside (its samples count as not finished), and a damaged journal
// line is dropped from the journal (rewritten in place) while the samples the other lines and the
// shard agree on stay finished. Call
// it before any ShardWriter opens its shard: HDF5 locks a shard while it is open for writing, and a
// locked shard throws ShardBusyError (it is never quarantined).
ShardScan scan_shards(const std::string& out_dir, bool quarantine_corrupt = false);
// scan_shards(out_dir).finished: the keys a resumed run may skip.
std::set<SampleKey> read_journal(const std::string& out_dir);

}  // namespace xai
