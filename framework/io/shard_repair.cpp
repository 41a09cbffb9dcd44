#include "framework/io/shard_repair.h"

#include <algorithm>
#include <vector>

#include <filesystem>

#include "framework/common/error.h"
#include "framework/io/fs_util.h"
#include "framework/io/hdf5.h"
#include "framework/io/journal.h"
#include "framework/io/results_layout.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

void cut_group(h5::Group& g, int64_t rows);

// Offsets entries [0, n] that are a valid CSR prefix over `values_rows` values: the largest
// r <= rows_wanted with offsets[0] = 0, non-decreasing, offsets[r] <= values_rows.
int64_t valid_rows(const std::vector<int64_t>& off, int64_t values_rows) {
  if (off.empty() || off[0] != 0) return -1;
  int64_t r = 0;
  while (r + 1 < static_cast<int64_t>(off.size()) &&
         off[static_cast<size_t>(r) + 1] >= off[static_cast<size_t>(r)] &&
         off[static_cast<size_t>(r) + 1] <= values_rows) {
    ++r;
  }
  return r;
}

h5::Dataset csr_values(const h5::Group& csr) {
  return csr.open_dataset(csr.has("bytes") ? "bytes" : "values");
}

// A CSR group: offsets to rows + 1 entries, values to offsets[rows]; whatever else it holds (a
// per-row column such as n_targets, a nested CSR such as an extra's shape) to `rows` too.
void cut_csr(h5::Group& c, int64_t rows) {
  h5::Dataset off = c.open_dataset("offsets");
  h5::Dataset values = csr_values(c);
  const std::vector<int64_t> o = off.read_all<int64_t>();
  XAI_CHECK(valid_rows(o, values.rows()) >= rows, "'", c.path(), "' in ", c.file_path(),
            " lacks whole rows the journal lists");
  const int64_t end = o[static_cast<size_t>(rows)];
  off.truncate_rows(rows + 1);
  values.truncate_rows(end);
  for (const std::string& name : c.children()) {
    if (name == "offsets" || name == "values" || name == "bytes") continue;
    if (c.is_group(name)) {
      h5::Group child = c.open_group(name);
      if (child.has("offsets")) {
        cut_csr(child, rows);
      } else {
        cut_group(child, rows);
      }
    } else {
      c.open_dataset(name).truncate_rows(rows);
    }
  }
}

// Every CSR, column and nested group under `g` to `rows` rows.
void cut_group(h5::Group& g, int64_t rows) {
  for (const std::string& name : g.children()) {
    if (g.is_group(name)) {
      h5::Group child = g.open_group(name);
      if (child.has("offsets")) {
        cut_csr(child, rows);
      } else {
        cut_group(child, rows);
      }
    } else {
      g.open_dataset(name).truncate_rows(rows);
    }
  }
}

// The leading sample rows of a model that are whole and journaled.
int64_t journaled_rows(const h5::Group& samples, const std::string& model,
                       const std::set<SampleKey>& journaled) {
  const h5::Group id = samples.open_group("id");
  const std::vector<int64_t> off = id.open_dataset("offsets").read_all<int64_t>();
  const h5::Dataset bytes_ds = id.open_dataset("bytes");
  const int64_t whole = valid_rows(off, bytes_ds.rows());
  if (whole <= 0) return 0;
  std::vector<uint8_t> bytes(static_cast<size_t>(off[static_cast<size_t>(whole)]));
  if (!bytes.empty()) bytes_ds.read_rows(0, static_cast<int64_t>(bytes.size()), bytes.data());
  int64_t n = 0;
  while (n < whole) {
    const auto b = static_cast<size_t>(off[static_cast<size_t>(n)]);
    const auto e = static_cast<size_t>(off[static_cast<size_t>(n) + 1]);
    const std::string sid(reinterpret_cast<const char*>(bytes.data()) + b, e - b);
    if (!journaled.count({model, sid})) break;
    ++n;
  }
  return n;
}

}  // namespace

RepairedShard repair_shard(const std::string& path, const std::set<SampleKey>& journaled) {
  RepairedShard out;
  const std::string tmp = path + ".repair";
  std::error_code ec;
  fs::remove(tmp, ec);
  try {
    // Copy what can be read into a fresh file; the damaged one is never written. A model group
    // that was being created when the flush failed may not open at all: it holds no journaled
    // sample, so it is left behind.
    h5::File fresh = h5::File::create(tmp);
    h5::Group to = fresh.root();
    {
      h5::File old = h5::File::open(path, h5::Access::kReadOnly);
      const h5::Group from = old.root();
      layout::check_schema_version(from);
      const int64_t rank = from.has_attr(layout::kRankAttr) ? from.int_attr(layout::kRankAttr) : 0;
      layout::write_root_attributes(to, layout::kKindShard, rank, layout::read_provenance(from));
      if (from.has("models")) {
        const h5::Group models = from.open_group("models");
        h5::Group to_models = to.create_group("models");
        for (const std::string& model : models.children()) {
          try {
            to_models.copy_from(models, model);
          } catch (const Error&) {
            out.dropped_models.push_back(model);
          }
        }
      }
      if (from.has("failures")) to.copy_from(from, "failures");
    }
    if (to.has("models")) {
      h5::Group models = to.open_group("models");
      for (const std::string& model : models.children()) {
        h5::Group mg = models.open_group(model);
        h5::Group samples = mg.open_group("samples");
        const int64_t n = journaled_rows(samples, model, journaled);
        cut_group(samples, n);
        out.kept += n;
        if (!mg.has("explainers")) continue;
        h5::Group explainers = mg.open_group("explainers");
        for (const std::string& name : explainers.children()) {
          h5::Group e = explainers.open_group(name);
          // Explainer rows follow the sample rows in order: keep those of the samples kept.
          const std::vector<int64_t> sample = e.open_dataset("sample").read_all<int64_t>();
          int64_t m = 0;
          while (m < static_cast<int64_t>(sample.size()) && sample[static_cast<size_t>(m)] >= 0 &&
                 sample[static_cast<size_t>(m)] < n) {
            ++m;
          }
          cut_group(e, m);
        }
      }
    }
    if (to.has("failures")) {
      h5::Group g = to.open_group("failures");
      int64_t rows = -1;
      for (const std::string& field : g.children()) {
        const h5::Group c = g.open_group(field);
        const int64_t r =
            valid_rows(c.open_dataset("offsets").read_all<int64_t>(), csr_values(c).rows());
        rows = rows < 0 ? r : std::min(rows, r);
      }
      if (rows >= 0) cut_group(g, rows);
    }
    to = h5::Group();
    fresh.flush_to_disk();
    fresh.close();
    verify_shard(tmp);
  } catch (const Error& e) {
    fs::remove(tmp, ec);
    throw Error(str_cat("cannot repair shard ", path, ": ", e.what()));
  }
  // The damaged original stays beside it for inspection; the repaired copy takes its place.
  int k = 1;
  while (fs::exists(str_cat(path, ".damaged-", k))) ++k;
  out.original = str_cat(path, ".damaged-", k);
  fs::rename(path, out.original);
  fs::rename(tmp, path);
  fsutil::sync_dir(fs::path(path).parent_path().string());
  return out;
}

}  // namespace xai
