#include "framework/io/shard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "framework/common/error.h"
#include "framework/io/fs_util.h"
#include "framework/io/hdf5.h"
#include "framework/io/journal.h"
#include "framework/io/results_layout.h"

namespace xai {
namespace fs = std::filesystem;

std::string shards_dir(const std::string& out_dir) { return out_dir + "/shards"; }

namespace {
std::string rank_stem(const std::string& out_dir, int rank) {
  XAI_CHECK(rank >= 0, "rank must be >= 0, got ", rank);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "rank-%05d", rank);
  return shards_dir(out_dir) + "/" + buf;
}
}  // namespace

std::string shard_path(const std::string& out_dir, int rank) {
  return rank_stem(out_dir, rank) + ".h5";
}
std::string journal_path(const std::string& out_dir, int rank) {
  return rank_stem(out_dir, rank) + ".journal";
}
std::string journal_path_for(const std::string& shard_file) {
  const std::string ext = ".h5";
  XAI_CHECK(shard_file.size() > ext.size() &&
                shard_file.compare(shard_file.size() - ext.size(), ext.size(), ext) == 0,
            "not a shard file name (expected *.h5): ", shard_file);
  return shard_file.substr(0, shard_file.size() - ext.size()) + ".journal";
}

std::string flushing_marker_for(const std::string& shard_file) {
  const std::string journal = journal_path_for(shard_file);
  return journal.substr(0, journal.size() - 8) + ".flushing";
}

namespace {

// Roughly what a record takes uncompressed in the shard.
int64_t approx_bytes(const SampleRecord& r) {
  int64_t b = r.size() * (8 + 16 + 1 + 4) +
              static_cast<int64_t>(r.prompt.size() + r.target.size() + r.sample_id.size()) + 64;
  for (const auto& [name, e] : r.explanations) {
    b += static_cast<int64_t>(e.relevance.size() + e.per_target.size()) * 4 + 64 +
         static_cast<int64_t>(e.metrics.size() + e.cost.size()) * 8;
    for (const auto& [x, a] : e.extras) b += static_cast<int64_t>(a.values.size()) * 4 + 16;
  }
  return b;
}

// Disk space held for the shard's next flush, in OUT/shards/rank-XXXXX.reserve: released just
// before a flush writes and taken again after it, so a flush still fits when something else fills
// the disk between the free-space check and the write.
class Reserve {
 public:
  Reserve() = default;
  Reserve(std::string path, int64_t bytes) : path_(std::move(path)), bytes_(bytes) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    XAI_CHECK(fd_ >= 0, "cannot create ", path_, ": ", std::strerror(errno));
    held_ = take();
  }
  ~Reserve() {
    if (fd_ < 0) return;
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  Reserve(const Reserve&) = delete;
  Reserve& operator=(const Reserve&) = delete;

  bool held() const { return held_; }
  void release() {
    if (fd_ >= 0 && ::ftruncate(fd_, 0) == 0) held_ = false;
  }
  bool take() {
    held_ = fd_ >= 0 && ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes_)) == 0;
    return held_;
  }

 private:
  std::string path_;
  int64_t bytes_ = 0;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace

struct ShardWriter::Impl {
  ResultsMeta meta;
  FlushPolicy policy;
  int64_t headroom = 0;
  std::unique_ptr<Reserve> reserve;  // headroom > 0
  int64_t flushed_samples = 0;       // journaled by this writer
  std::string path;
  std::string journal;
  h5::File file;
  std::vector<SampleRecord> records;
  std::vector<Failure> failures;
  bool broken = false;
  bool closed = false;

  void check_usable() const {
    XAI_CHECK(!closed, "shard writer for ", path, " is closed");
    XAI_CHECK(!broken, "shard writer for ", path,
              " failed during a flush and cannot be used (HINT: restart the run; resume redoes "
              "what the journal does not list)");
  }

  void maybe_flush() {
    if (policy.due(static_cast<int64_t>(records.size() + failures.size()),
                   FlushPolicy::Clock::now())) {
      flush();
    }
  }

  // An explainer already in the shard must have been run with the same parameters.
  void check_parameters() const {
    if (meta.accept_changed_parameters) return;
    h5::Group root = file.root();
    if (!root.has("models")) return;
    h5::Group models = root.open_group("models");
    for (const std::string& model : models.children()) {
      for (const auto& [name, info] : meta.explainers) {
        const std::string rel = model + "/explainers/" + name;
        if (!models.has(rel)) continue;
        h5::Group e = models.open_group(rel);
        if (!e.has_attr(layout::kParametersAttr)) continue;
        const std::string old = e.string_attr(layout::kParametersAttr);
        XAI_CHECK(old == info.parameters_json, "shard ", path, " holds explainer '", name,
                  "' run with parameters ", old, ", but this run uses ", info.parameters_json,
                  " (HINT: write to a new output folder, or rerun with the original config)");
      }
    }
  }

  void flush() {
    check_usable();
    if (records.empty() && failures.empty()) return;
    // HDF5 would go on writing into the deleted file; say what happened instead.
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      broken = true;
      throw Error(
          str_cat("shard ", path, " is gone: the output folder was deleted or moved while ",
                  "the run was writing it, so its samples cannot be saved (HINT: run again ",
                  "into a folder nothing else removes)"));
    }
    // A full disk is found before anything is written, so the shard stays as the last flush left
    // it: a flush needs about twice its bytes (HDF5 rewrites partial chunks) plus the headroom.
    int64_t pending = 0;
    for (const SampleRecord& r : records) pending += approx_bytes(r);
    for (const Failure& f : failures) pending += static_cast<int64_t>(f.message.size()) + 64;
    // The disk is full when what is free (the reserve aside) cannot take about twice the flush
    // (HDF5 rewrites partial chunks) plus some slack for metadata; then nothing is written.
    const std::string dir = fs::path(path).parent_path().string();
    if (reserve) {
      const std::string full = fsutil::no_space_note(dir, 2 * pending + (int64_t{256} << 10));
      if (!full.empty() || (!reserve->held() && !reserve->take())) {
        throw Error(no_space(full.empty() ? fsutil::no_space_note(dir, int64_t{1} << 62) : full,
                             records.size(), pending));
      }
      reserve->release();
    }
    const std::string marker = flushing_marker_for(path);
    {
      const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        const std::string full = fsutil::no_space_note(dir);
        if (!full.empty()) throw Error(no_space(full, records.size(), pending));
        throw Error(str_cat("cannot create ", marker, ": ", std::strerror(errno)));
      }
      ::close(fd);
    }
    try {
      h5::Group root = file.root();
      layout::append_records(root, records, meta, layout::kShardChunking);
      layout::append_failures(root, failures, layout::kShardChunking);
      file.flush_to_disk();
      if (reserve) reserve->take();  // if it cannot, the next flush stops before writing
    } catch (const Error& e) {
      broken = true;
      // HDF5 says "inflate() failed" or "can't write data" when the disk fills mid-flush.
      const std::string full = fsutil::no_space_note(dir, std::max<int64_t>(pending, 1 << 20));
      if (!full.empty()) throw Error(no_space(full, records.size(), pending));
      throw;
    } catch (...) {
      broken = true;
      throw;
    }
    // Only now, with the samples durable in the shard, may the journal name them.
    std::string text;
    for (const SampleRecord& r : records) text += journal_line({r.model, r.sample_id});
    for (const Failure& f : failures) {
      if (f.explainer.empty()) text += journal_line({f.model, f.sample_id});
    }
    const int64_t n_records = static_cast<int64_t>(records.size());
    records.clear();
    failures.clear();
    policy.flushed(FlushPolicy::Clock::now());
    try {
      fsutil::append_durably(journal, text);
    } catch (const Error& e) {
      broken = true;
      const std::string full = fsutil::no_space_note(dir);
      if (!full.empty()) throw Error(no_space(full, static_cast<size_t>(n_records), 0));
      throw;
    }
    flushed_samples += n_records;
    ::unlink(marker.c_str());  // the flush finished: the shard and its journal agree
  }

  std::string no_space(const std::string& full, size_t count, int64_t pending) const {
    return str_cat(full, " while saving ", count, " sample(s) (about ", (pending + 1023) >> 10,
                   " KB) to ", path, "; the ", flushed_samples,
                   " sample(s) saved before by this run are kept. HINT: free space or move the ",
                   "output folder, then rerun with --resume");
  }

  ~Impl() {
    // A flush that failed half-way: HDF5's cache holds metadata for rows the file lacks.
    if (broken) file.abandon();
  }
};

ShardWriter::ShardWriter(const std::string& out_dir, int rank, ResultsMeta meta, FlushPolicy policy,
                         int64_t headroom_bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.meta = std::move(meta);
  s.policy = policy;
  s.headroom = headroom_bytes;
  s.path = shard_path(out_dir, rank);
  s.journal = journal_path(out_dir, rank);
  for (const auto& [name, info] : s.meta.explainers) {
    validate_name(name, "explainer");
    for (const auto& kv : info.metrics) validate_name(kv.first, "metric");
  }
  std::error_code ec;
  fs::create_directories(shards_dir(out_dir), ec);
  XAI_CHECK(!ec, "cannot create ", shards_dir(out_dir), ": ", ec.message());

  if (fs::exists(s.path)) {
    XAI_CHECK(!fs::exists(flushing_marker_for(s.path)), "cannot resume shard ", s.path,
              ": its last flush never finished (HINT: rerun with --resume: it rebuilds the shard "
              "from the samples its journal lists)");
    try {
      s.file = h5::File::open(s.path, h5::Access::kReadWrite);
      h5::Group root = s.file.root();
      layout::check_schema_version(root);
      XAI_CHECK(root.has_attr(layout::kKindAttr) &&
                    root.string_attr(layout::kKindAttr) == layout::kKindShard,
                s.path, " is not a shard (no xai_kind = \"shard\" attribute)");
      layout::read_index(root, /*deep=*/false);
    } catch (const Error& e) {
      throw Error(str_cat("cannot resume shard ", s.path, ": ", e.what(),
                          " (HINT: rerun with --resume: it sets a damaged shard aside and "
                          "computes its samples again)"));
    }
    s.check_parameters();
  } else {
    s.file = h5::File::create(s.path);
  }
  h5::Group root = s.file.root();
  layout::write_root_attributes(root, layout::kKindShard, rank, s.meta.provenance);
  s.file.flush_to_disk();
  if (s.headroom > 0) {
    s.reserve =
        std::make_unique<Reserve>(s.path.substr(0, s.path.size() - 3) + ".reserve", s.headroom);
  }
  fsutil::drop_partial_line(s.journal);
  fsutil::append_durably(s.journal, "");
  fsutil::sync_dir(shards_dir(out_dir));
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::add(SampleRecord record) {
  impl_->check_usable();
  validate_record(record);
  impl_->records.push_back(std::move(record));
  impl_->maybe_flush();
}

void ShardWriter::add_failure(Failure failure) {
  impl_->check_usable();
  validate_name(failure.model, "model");
  impl_->failures.push_back(std::move(failure));
  impl_->maybe_flush();
}

void ShardWriter::flush() { impl_->flush(); }

void ShardWriter::close() {
  impl_->flush();
  impl_->closed = true;
  impl_->file.close();
  impl_->reserve.reset();
}

int64_t ShardWriter::pending() const {
  return static_cast<int64_t>(impl_->records.size() + impl_->failures.size());
}
const std::string& ShardWriter::path() const { return impl_->path; }
const std::string& ShardWriter::journal() const { return impl_->journal; }

}  // namespace xai
