#include "framework/io/journal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "framework/common/error.h"
#include "framework/io/fs_util.h"
#include "framework/io/hdf5.h"
#include "framework/io/results_layout.h"
#include "framework/io/shard_repair.h"
#include "framework/io/shard_writer.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

void escape_into(std::string& out, const std::string& s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

bool unescape(const std::string& s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return false;
    switch (s[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        return false;
    }
  }
  return true;
}

// rank-<digits>.h5 -> rank, or -1.
long shard_rank(const std::string& filename) {
  static const std::regex re("rank-([0-9]+)\\.h5");
  std::smatch m;
  if (!std::regex_match(filename, m, re)) return -1;
  return std::stol(m[1].str());
}

// Replaces a journal with exactly `keys`, atomically (a temporary file, then rename).
void rewrite_journal(const std::string& journal, const std::vector<SampleKey>& keys) {
  std::string text;
  for (const SampleKey& k : keys) text += journal_line(k);
  const std::string tmp = journal + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fsutil::append_durably(tmp, text);
  fs::rename(tmp, journal);
  fsutil::sync_dir(fs::path(journal).parent_path().string());
}

}  // namespace

std::string journal_line(const SampleKey& key) {
  std::string out;
  escape_into(out, key.model);
  out += '\t';
  escape_into(out, key.sample_id);
  out += '\n';
  return out;
}

std::vector<SampleKey> parse_journal(const std::string& path, std::vector<int64_t>* damaged) {
  std::vector<SampleKey> keys;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return keys;
    throw Error(str_cat("cannot read journal ", path, ": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t start = 0;
  int64_t line_no = 0;
  // Only lines ending in '\n' were written completely.
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    ++line_no;
    const std::string line = text.substr(start, nl - start);
    start = nl + 1;
    const size_t tab = line.find('\t');
    SampleKey key;
    if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos ||
        !unescape(line.substr(0, tab), key.model) ||
        !unescape(line.substr(tab + 1), key.sample_id) || key.model.empty()) {
      if (damaged != nullptr) {
        damaged->push_back(line_no);
        continue;
      }
      throw Error(str_cat("journal ", path, " line ", line_no,
                          " is not 'model<TAB>sample_id' (HINT: the journal is damaged; rerun "
                          "with --resume: it drops the damaged line and computes its sample "
                          "again)"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<std::string> list_shards(const std::string& out_dir) {
  std::vector<std::pair<long, std::string>> found;
  const std::string dir = shards_dir(out_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir)) {
    const long rank = shard_rank(entry.path().filename().string());
    if (rank >= 0 && entry.is_regular_file()) found.emplace_back(rank, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::set<SampleKey> verify_shard(const std::string& path, bool deep) {
  try {
    h5::File file = h5::File::open(path, h5::Access::kReadOnly);
    h5::Group root = file.root();
    layout::check_schema_version(root);
    std::set<SampleKey> keys;
    for (const layout::ModelIndex& m : layout::read_index(root, deep)) {
      for (const std::string& id : m.ids) keys.insert({m.name, id});
    }
    for (const Failure& f : layout::read_failures(root)) {
      if (f.explainer.empty()) keys.insert({f.model, f.sample_id});
    }
    file.close();
    return keys;
  } catch (const h5::FileLockedError& e) {
    throw ShardBusyError(str_cat("shard ", path, " is in use: ", e.what(),
                                 " (HINT: check shards before the writers open them)"));
  } catch (const Error& e) {
    const std::string msg = e.what();
    // Messages from the layer below name the file already; say which check failed.
    throw Error(msg.find(path) != std::string::npos
                    ? str_cat("shard check failed: ", msg)
                    : str_cat("shard check failed for ", path, ": ", msg));
  }
}

std::string quarantine_shard(const std::string& path, const std::string& reason) {
  const std::string journal = journal_path_for(path);
  int n = 1;
  while (fs::exists(path + ".corrupt-" + std::to_string(n)) ||
         fs::exists(journal + ".corrupt-" + std::to_string(n))) {
    ++n;
  }
  const std::string suffix = ".corrupt-" + std::to_string(n);
  const std::string moved = path + suffix;
  std::error_code ec;
  if (fs::exists(path)) {
    fs::rename(path, moved, ec);
    XAI_CHECK(!ec, "cannot move ", path, " to ", moved, ": ", ec.message());
  }
  if (fs::exists(journal)) {
    fs::rename(journal, journal + suffix, ec);
    XAI_CHECK(!ec, "cannot move ", journal, " to ", journal + suffix, ": ", ec.message());
  }
  fsutil::append_durably(moved + ".reason", reason + "\n");
  fsutil::sync_dir(fs::path(path).parent_path().string());
  return moved;
}

ShardScan scan_shards(const std::string& out_dir, bool quarantine_corrupt) {
  ShardScan scan;
  const std::string dir = shards_dir(out_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return scan;
  // Every rank with a shard or a journal: a journal whose shard is gone has nothing finished,
  // and a shard without a journal is still checked (a resumed writer would append to it).
  std::set<std::pair<long, std::string>> stems;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    const std::string ext = ".journal";
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
      name = name.substr(0, name.size() - ext.size()) + ".h5";
    }
    const long rank = shard_rank(name);
    if (rank >= 0) stems.emplace(rank, dir + "/" + name.substr(0, name.size() - 3));
  }
  for (const auto& rank_stem : stems) {
    const std::string& stem = rank_stem.second;
    const std::string shard = stem + ".h5";
    const std::string journal = stem + ".journal";
    std::vector<SampleKey> keys;
    std::set<SampleKey> held;
    try {
      std::vector<int64_t> damaged;
      keys = parse_journal(journal, quarantine_corrupt ? &damaged : nullptr);
      if (!damaged.empty()) {
        // Keep what the other lines and the shard agree on: write the journal again without
        // the damaged lines (atomically), and say so.
        rewrite_journal(journal, keys);
        std::string lines;
        for (int64_t n : damaged) lines += (lines.empty() ? "" : ", ") + std::to_string(n);
        scan.dropped_lines.push_back(str_cat(
            journal, ": damaged line(s) ", lines, " dropped; the ", keys.size(),
            " other finished samples are kept, and the sample(s) those lines named are computed "
            "again"));
      }
      if (fs::exists(shard)) held = verify_shard(shard);
      // A flush that never finished may have damaged what a shallow check cannot see (HDF5
      // metadata pointing past the file's end): such a shard is rebuilt, never appended to.
      if (fs::exists(flushing_marker_for(shard))) {
        throw Error(str_cat("shard ", shard, ": its last flush never finished"));
      }
    } catch (const ShardBusyError&) {
      throw;  // a writer has it open: never quarantine a shard in use
    } catch (const Error& e) {
      if (!quarantine_corrupt) throw;
      // A flush cut short (a full disk, a crash mid-flush) leaves rows past the journal: cut them
      // off and keep the journaled samples. Only a shard that cannot be repaired is set aside.
      const std::set<SampleKey> journaled(keys.begin(), keys.end());
      try {
        if (journaled.empty() || !fs::exists(shard)) throw Error("nothing journaled to keep");
        const RepairedShard repaired = repair_shard(shard, journaled);
        held = verify_shard(shard);
        std::vector<SampleKey> still;
        for (const SampleKey& k : keys) {
          if (held.count(k)) still.push_back(k);
        }
        rewrite_journal(journal, still);
        keys = std::move(still);
        std::error_code rm;
        fs::remove(flushing_marker_for(shard), rm);
        scan.repaired.push_back(str_cat(
            shard, ": its last flush was cut short (", e.what(), "); repaired: its ", repaired.kept,
            " journaled samples are kept, the rest are computed again",
            repaired.dropped_models.empty() ? std::string()
                                            : str_cat(" (unreadable model groups left out: ",
                                                      repaired.dropped_models.size(), ")"),
            "; the damaged file is kept as ", repaired.original));
      } catch (const Error& why_not) {
        const std::string reason = str_cat(e.what(), "; ", why_not.what());
        scan.quarantined.push_back(str_cat(quarantine_shard(shard, reason), ": ", reason));
        std::error_code rm;
        fs::remove(flushing_marker_for(shard), rm);
        continue;
      }
    }
    scan.journal_keys += static_cast<int64_t>(keys.size());
    for (SampleKey& k : keys) {
      if (held.count(k)) {
        scan.finished.insert(std::move(k));
      } else {
        ++scan.ignored_keys;
      }
    }
  }
  return scan;
}

std::set<SampleKey> read_journal(const std::string& out_dir) {
  return scan_shards(out_dir, false).finished;
}

}  // namespace xai
