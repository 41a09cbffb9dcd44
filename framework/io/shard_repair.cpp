#include "framework/io/shard_repair.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "framework/common/error.h"
#include "framework/io/fs_util.h"
#include "framework/io/hdf5.h"
#include "framework/io/journal.h"
#include "framework/io/results_layout.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

// The first `rows` rows of a CSR group (offsets and values), read only where they lie: a flush
// cut short leaves the later rows (and the chunks that hold them) unreadable.
template <typename T>
Ragged<T> read_csr_rows(const h5::Group& c, int64_t rows) {
  const h5::Dataset off = c.open_dataset("offsets");
  const h5::Dataset values = c.open_dataset(c.has("bytes") ? "bytes" : "values");
  XAI_CHECK(off.rows() >= rows + 1, "'", off.path(), "' lacks rows the journal lists");
  Ragged<T> r;
  r.offsets.resize(static_cast<size_t>(rows) + 1);
  off.read_rows(0, rows + 1, r.offsets.data());
  XAI_CHECK(r.offsets[0] == 0, "'", off.path(), "' does not start with 0");
  for (int64_t i = 0; i < rows; ++i) {
    XAI_CHECK(r.offsets[static_cast<size_t>(i) + 1] >= r.offsets[static_cast<size_t>(i)], "'",
              off.path(), "' decreases");
  }
  const int64_t width = values.row_width();
  const int64_t end = r.offsets.back();
  XAI_CHECK(values.rows() >= end, "'", values.path(), "' lacks rows the journal lists");
  r.values.resize(static_cast<size_t>(end * width));
  if (end > 0) values.read_rows(0, end, r.values.data());
  if (width != 1) {
    for (auto& o : r.offsets) o *= width;
  }
  return r;
}

std::vector<std::string> read_string_rows(const h5::Group& c, int64_t rows) {
  const Ragged<uint8_t> r = read_csr_rows<uint8_t>(c, rows);
  std::vector<std::string> out(static_cast<size_t>(rows));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].assign(reinterpret_cast<const char*>(r.row_data(i)), static_cast<size_t>(r.row_size(i)));
  }
  return out;
}

template <typename T>
std::vector<T> read_column_rows(const h5::Dataset& d, int64_t rows) {
  XAI_CHECK(d.rows() >= rows, "'", d.path(), "' lacks rows the journal lists");
  std::vector<T> out(static_cast<size_t>(rows));
  if (rows > 0) d.read_rows(0, rows, out.data());
  return out;
}

// The leading sample rows of a model that are whole and journaled.
int64_t journaled_rows(const h5::Group& samples, const std::string& model,
                       const std::set<SampleKey>& journaled) {
  const h5::Group id = samples.open_group("id");
  const h5::Dataset off_ds = id.open_dataset("offsets");
  const h5::Dataset bytes_ds = id.open_dataset("bytes");
  // Rows whose offsets and bytes read whole; stop at the first that does not.
  int64_t n = 0;
  std::vector<int64_t> off(1, 0);
  const int64_t have = off_ds.rows();
  while (n + 1 < have) {
    int64_t next = 0;
    try {
      off_ds.read_rows(n + 1, 1, &next);
    } catch (const Error&) {
      break;
    }
    if (next < off.back() || next > bytes_ds.rows()) break;
    std::string sid(static_cast<size_t>(next - off.back()), '\0');
    try {
      if (!sid.empty()) {
        bytes_ds.read_rows(off.back(), next - off.back(), reinterpret_cast<uint8_t*>(sid.data()));
      }
    } catch (const Error&) {
      break;
    }
    if (!journaled.count({model, sid})) break;
    off.push_back(next);
    ++n;
  }
  return n;
}

// The first n sample rows of a model, with the explainer rows that belong to them.
std::vector<SampleRecord> read_model_prefix(const h5::Group& mg, const std::string& model,
                                            int64_t n, ResultsMeta& meta) {
  const h5::Group samples = mg.open_group("samples");
  std::vector<SampleRecord> out(static_cast<size_t>(n));
  const auto ids = read_string_rows(samples.open_group("id"), n);
  const auto tokens = read_csr_rows<int64_t>(samples.open_group("tokens"), n);
  const auto spans = read_csr_rows<int64_t>(samples.open_group("token_offsets"), n);
  const auto mask = read_csr_rows<uint8_t>(samples.open_group("explain_mask"), n);
  const auto evidence = read_csr_rows<float>(samples.open_group("evidence"), n);
  const auto prompts = read_string_rows(samples.open_group("prompt"), n);
  const auto targets = read_string_rows(samples.open_group("target"), n);
  const auto prompt_len = read_column_rows<int64_t>(samples.open_dataset(layout::kPromptLen), n);
  for (size_t i = 0; i < out.size(); ++i) {
    SampleRecord& r = out[i];
    r.model = model;
    r.sample_id = ids[i];
    r.tokens = tokens.row(i);
    const std::vector<int64_t> s = spans.row(i);
    for (size_t k = 0; k + 1 < s.size(); k += 2) r.token_offsets.push_back({s[k], s[k + 1]});
    r.explain_mask = mask.row(i);
    r.evidence = evidence.row(i);
    r.prompt = prompts[i];
    r.target = targets[i];
    r.prompt_len = prompt_len[i];
  }
  if (!mg.has("explainers")) return out;
  const h5::Group explainers = mg.open_group("explainers");
  for (const std::string& name : explainers.children()) {
    const h5::Group e = explainers.open_group(name);
    meta.explainers[name] = layout::read_explainer_info(e);
    // Explainer rows follow the sample rows in order: keep those of the samples kept.
    const h5::Dataset sample_ds = e.open_dataset("sample");
    std::vector<int64_t> sample;
    for (int64_t j = 0; j < sample_ds.rows(); ++j) {
      int64_t s = -1;
      sample_ds.read_rows(j, 1, &s);
      if (s < 0 || s >= n) break;
      sample.push_back(s);
    }
    const int64_t m = static_cast<int64_t>(sample.size());
    const auto relevance = read_csr_rows<float>(e.open_group("relevance"), m);
    const auto per_target = read_csr_rows<float>(e.open_group("per_target"), m);
    const auto n_targets = read_column_rows<int64_t>(e.open_dataset("per_target/n_targets"), m);
    std::map<std::string, std::vector<double>> metrics, cost;
    for (auto [kind, into] :
         {std::pair<const char*, decltype(&metrics)>{"metrics", &metrics}, {"cost", &cost}}) {
      if (!e.has(kind)) continue;
      const h5::Group g = e.open_group(kind);
      for (const std::string& col : g.children()) {
        const h5::Dataset d = g.open_dataset(col);
        if (d.rows() >= m) (*into)[col] = read_column_rows<double>(d, m);
      }
    }
    std::map<std::string, std::pair<Ragged<float>, Ragged<int64_t>>> extras;
    for (const std::string& x : layout::extra_names(e)) {
      const h5::Group g = e.open_group(std::string(layout::kExtrasGroup) + "/" + x);
      extras[x] = {read_csr_rows<float>(g, m), read_csr_rows<int64_t>(g.open_group("shape"), m)};
    }
    for (size_t j = 0; j < sample.size(); ++j) {
      ExplanationRecord x;
      x.relevance = relevance.row(j);
      x.per_target = per_target.row(j);
      x.n_targets = n_targets[j];
      for (const auto& [k, v] : metrics) {
        if (!std::isnan(v[j])) x.metrics[k] = v[j];
      }
      for (const auto& [k, v] : cost) {
        if (!std::isnan(v[j])) x.cost[k] = v[j];
      }
      for (const auto& [k, v] : extras) {
        if (v.first.row_size(j) > 0 || v.second.row_size(j) > 0) {
          x.extras[k] = {v.second.row(j), v.first.row(j)};
        }
      }
      out[static_cast<size_t>(sample[j])].explanations[name] = std::move(x);
    }
  }
  return out;
}

// The failures rows that read whole, in all four columns.
std::vector<Failure> read_failures_prefix(const h5::Group& root) {
  if (!root.has("failures")) return {};
  const h5::Group g = root.open_group("failures");
  int64_t rows = std::numeric_limits<int64_t>::max();
  for (const char* f : {"model", "sample", "explainer", "message"}) {
    const h5::Group c = g.open_group(f);
    rows = std::min(rows, c.open_dataset("offsets").rows() - 1);
  }
  // Back off until every column reads whole.
  for (; rows > 0; --rows) {
    try {
      std::vector<std::vector<std::string>> cols;
      for (const char* f : {"model", "sample", "explainer", "message"}) {
        cols.push_back(read_string_rows(g.open_group(f), rows));
      }
      std::vector<Failure> out(static_cast<size_t>(rows));
      for (size_t i = 0; i < out.size(); ++i) {
        out[i] = {cols[0][i], cols[1][i], cols[2][i], cols[3][i]};
      }
      return out;
    } catch (const Error&) {
    }
  }
  return {};
}

}  // namespace

RepairedShard repair_shard(const std::string& path, const std::set<SampleKey>& journaled) {
  RepairedShard out;
  const std::string scratch = path + ".repair", rebuilt = path + ".rebuilt";
  std::error_code ec;
  fs::remove(scratch, ec);
  fs::remove(rebuilt, ec);
  try {
    // A scratch copy is read; the damaged file itself is never written.
    fs::copy_file(path, scratch, fs::copy_options::overwrite_existing, ec);
    XAI_CHECK(!ec, "cannot copy it to ", scratch, ": ", ec.message());
    h5::File file;
    try {
      file = h5::File::open(scratch, h5::Access::kReadOnly);
    } catch (const Error& e) {
      // A flush cut short by a full disk leaves the superblock's end of file past the bytes that
      // made it to disk, and HDF5 refuses the file. What lies past them belongs to the
      // unfinished flush (never read below), so the copy is padded to that end.
      const std::string msg = e.what();
      const size_t at = msg.find("stored_eof = ");
      if (at == std::string::npos) throw;
      const uint64_t stored = std::stoull(msg.substr(at + 13));
      XAI_CHECK(stored > fs::file_size(scratch) && stored < (uint64_t{1} << 44), e.what());
      fs::resize_file(scratch, stored);
      file = h5::File::open(scratch, h5::Access::kReadOnly);
    }
    const h5::Group root = file.root();
    layout::check_schema_version(root);
    const int64_t rank = root.has_attr(layout::kRankAttr) ? root.int_attr(layout::kRankAttr) : 0;
    ResultsMeta meta;
    meta.provenance = layout::read_provenance(root);
    std::vector<std::vector<SampleRecord>> kept;
    if (root.has("models")) {
      const h5::Group models = root.open_group("models");
      for (const std::string& model : models.children()) {
        try {
          const h5::Group mg = models.open_group(model);
          int64_t n = journaled_rows(mg.open_group("samples"), model, journaled);
          // The unfinished flush may have moved the last, partly filled chunk of a dataset to
          // where nothing was written: its rows are lost. Keep the longest prefix that reads
          // whole (reading is monotone in the prefix, so a binary search finds it).
          int64_t lo = 0, hi = n;
          while (lo < hi) {
            const int64_t mid = (lo + hi + 1) / 2;
            try {
              ResultsMeta probe;
              read_model_prefix(mg, model, mid, probe);
              lo = mid;
            } catch (const Error&) {
              hi = mid - 1;
            }
          }
          n = lo;
          kept.push_back(read_model_prefix(mg, model, n, meta));
          out.kept += n;
        } catch (const Error&) {
          // A model group being created when the flush failed may not open at all; it is left
          // out only when it holds no journaled sample.
          auto it = journaled.lower_bound({model, ""});
          if (it != journaled.end() && it->model == model) throw;
          out.dropped_models.push_back(model);
        }
      }
    }
    const std::vector<Failure> failures = read_failures_prefix(root);
    // Written again with the writer's own code into a fresh file: nothing of the damaged file's
    // allocation (addresses past its end, half-written chunks) carries over.
    h5::File fresh = h5::File::create(rebuilt);
    h5::Group to = fresh.root();
    layout::write_root_attributes(to, layout::kKindShard, rank, meta.provenance);
    for (const auto& records : kept) {
      if (!records.empty()) layout::append_records(to, records, meta, layout::kShardChunking);
    }
    layout::append_failures(to, failures, layout::kShardChunking);
    to = h5::Group();
    fresh.flush_to_disk();
    fresh.close();
    verify_shard(rebuilt, /*deep=*/true);
  } catch (const Error& e) {
    fs::remove(scratch, ec);
    fs::remove(rebuilt, ec);
    throw Error(str_cat("cannot repair shard ", path, ": ", e.what()));
  }
  fs::remove(scratch, ec);
  // The damaged original stays beside it for inspection; the rebuilt shard takes its place.
  int k = 1;
  while (fs::exists(str_cat(path, ".damaged-", k))) ++k;
  out.original = str_cat(path, ".damaged-", k);
  fs::rename(path, out.original);
  fs::rename(rebuilt, path);
  fsutil::sync_dir(fs::path(path).parent_path().string());
  return out;
}

}  // namespace xai
