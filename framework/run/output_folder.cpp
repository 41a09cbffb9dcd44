#include "framework/run/output_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "framework/common/error.h"
#include "framework/io/journal.h"
#include "framework/io/results_reader.h"
#include "framework/io/shard_writer.h"
#include "framework/run/rank_calls.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

constexpr const char* kLockFile = ".xai-lock";

bool starts_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

}  // namespace

OutputLock& OutputLock::operator=(OutputLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

OutputLock OutputLock::acquire(const std::string& out_dir, const std::string& where,
                               const std::string& command) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) {
    throw Error(str_cat(where, "cannot create the output folder '", out_dir,
                        "': ", ec ? ec.message() : "a file of that name is in the way",
                        " (HINT: choose a folder you can write with --set output=DIR)"));
  }
  const std::string path = (fs::path(out_dir) / kLockFile).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(str_cat(where, "cannot write in the output folder '", out_dir,
                        "': ", std::strerror(errno),
                        " (HINT: choose a folder you can write with --set output=DIR)"));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[512];
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) holder.assign(buf, static_cast<size_t>(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd);
    if (err == EWOULDBLOCK) {
      throw Error(str_cat(out_dir, ": in use by a running job (",
                          holder.empty() ? "its details are unknown" : holder,
                          "). HINT: wait for it to finish, stop it, or choose another folder "
                          "with --set output=DIR"));
    }
    throw Error(
        str_cat(where, "cannot lock the output folder '", out_dir, "': ", std::strerror(err)));
  }
  const std::string me = str_cat("pid ", ::getpid(), " on ", hostname(), ", xai ", command,
                                 ", since ", utc_now(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    const int err = errno;
    ::close(fd);
    throw Error(
        str_cat(where, "cannot write in the output folder '", out_dir, "': ", std::strerror(err)));
  }
  return OutputLock(fd);
}

std::vector<std::string> remove_leftovers(const std::string& out_dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  auto sweep = [&](const std::string& dir, auto&& is_leftover) {
    if (!fs::is_directory(dir, ec)) return;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (!is_leftover(name)) continue;
      if (fs::remove(e.path(), ec)) removed.push_back(e.path().string());
    }
  };
  sweep(out_dir, [](const std::string& n) {
    return starts_with(n, "results.h5.tmp-") || n == "results.json.tmp";
  });
  sweep(shards_dir(out_dir), [](const std::string& n) {
    return n.find(".progress") != std::string::npos || n.find(".alive") != std::string::npos ||
           n.find(".reserve") != std::string::npos || n.find(".repair") != std::string::npos ||
           n.find(".rebuilt") != std::string::npos;
  });
  return removed;
}

PreviousRun read_previous_run(const std::string& out_dir, bool resume, bool allow_changed,
                              const RunFingerprint& now) {
  PreviousRun prev;
  if (list_shards(out_dir).empty()) return prev;
  if (!resume) {
    throw Error(str_cat(out_dir, ": holds the shards of an earlier run. HINT: add --resume to ",
                        "continue it, or choose another folder with --set output=DIR"));
  }
  ShardScan scan = scan_shards(out_dir, /*quarantine_corrupt=*/true);
  for (const auto& q : scan.quarantined) prev.notices.push_back("damaged shard set aside: " + q);
  for (const auto& d : scan.dropped_lines) prev.notices.push_back(d);
  for (const auto& r : scan.repaired) prev.notices.push_back(r);

  // Every change, once, with the shards that recorded the other value.
  std::map<std::string, std::vector<std::string>> changes;
  std::set<std::string> added;  // explainers the shards' run did not have
  int64_t unchecked = 0;
  for (const std::string& shard : list_shards(out_dir)) {
    const auto provenance = ResultsReader(shard).provenance();
    auto it = provenance.find("fingerprint");
    if (it == provenance.end()) {
      ++unchecked;
      continue;
    }
    const RunFingerprint before = RunFingerprint::from_json(it->second);
    for (const std::string& c : fingerprint_changes(before, now)) {
      changes[c].push_back(fs::path(shard).filename().string());
    }
    for (const auto& e : now.explainers) {
      if (!before.explainers.count(e.first)) added.insert(e.first);
    }
  }
  // Not a change to refuse, but worth knowing: a finished sample is not computed again, so an
  // explainer added since has no rows for the samples finished before.
  for (const std::string& e : added) {
    prev.notices.push_back(str_cat("explainer '", e, "' is new since the shards were written: the ",
                                   scan.finished.size(),
                                   " samples finished before get no rows for it",
                                   " (HINT: run it into a new folder to have it on every sample)"));
  }
  if (unchecked > 0) {
    prev.notices.push_back(str_cat(unchecked,
                                   " shard(s) were written by an older xai without a "
                                   "fingerprint; their checkpoint cannot be checked"));
  }
  if (!changes.empty()) {
    std::string what;
    for (const auto& [change, shards] : changes) {
      what += (what.empty() ? "" : "; ") + change;
      prev.accepted.push_back(change);
    }
    if (!allow_changed) {
      throw Error(str_cat(out_dir, ": cannot resume: this run differs from the one that wrote its ",
                          "shards, and their ", scan.finished.size(),
                          " finished samples would be mixed with new ones: ", what,
                          ". HINT: write to a new folder with --set output=DIR, or add "
                          "--allow-changed to resume anyway (the results then record the change)"));
    }
  }
  prev.finished = std::move(scan.finished);
  return prev;
}

}  // namespace xai
