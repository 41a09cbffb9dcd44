// A run's hold on its output folder: it creates the folder (a clear error naming `output` when it
// cannot), locks it against a second run while it lives, clears what an interrupted run left, and
// reads what earlier runs finished, refusing to mix their rows with rows of another checkpoint or
// setting. Internal to framework/run; `xai merge` takes the same lock.
#pragma once

#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "framework/io/results.h"
#include "framework/run/fingerprint.h"

namespace xai {

class OutputLock {
 public:
  // Creates `out_dir` (and its parents) and takes OUT/.xai-lock (flock, released when the process
  // ends however it ends). `where` names the setting in messages ("exp.yaml:3: output: ").
  // Throws xai::Error when the folder cannot be created or written, and when another live process
  // holds the lock, naming its pid, host, command and start time.
  static OutputLock acquire(const std::string& out_dir, const std::string& where,
                            const std::string& command);
  OutputLock(OutputLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  OutputLock& operator=(OutputLock&& o) noexcept;
  OutputLock() = default;
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  explicit OutputLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Removes what an interrupted run leaves in OUT: the merge's results.h5.tmp-* and
// results.json.tmp, and the shards folder's progress posts and heartbeats. Call it while holding
// the lock. Returns the files removed.
std::vector<std::string> remove_leftovers(const std::string& out_dir);

struct PreviousRun {
  std::set<SampleKey> finished;       // what a resumed run may skip
  std::vector<std::string> notices;   // damaged shards set aside, journal lines dropped, ...
  std::vector<std::string> accepted;  // changes accepted with allow_changed, for the provenance
};

// What the shards in OUT hold, before any writer opens one. No shards: nothing finished. Shards
// without `resume`: an error telling the user to add --resume or choose another folder. With
// `resume`: damaged shards are set aside, and every shard's run fingerprint is compared with
// `now`; a difference is an error naming each change unless `allow_changed`.
PreviousRun read_previous_run(const std::string& out_dir, bool resume, bool allow_changed,
                              const RunFingerprint& now);

}  // namespace xai
