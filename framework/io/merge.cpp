#include "framework/io/merge.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "framework/common/error.h"
#include "framework/io/fs_util.h"
#include "framework/io/hdf5.h"
#include "framework/io/journal.h"
#include "framework/io/results_layout.h"
#include "framework/io/shard_writer.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

using layout::Csr;

struct Source {
  std::string path;
  h5::File file;
  h5::Group root;
  std::vector<layout::ModelIndex> index;

  const layout::ModelIndex* model(const std::string& name) const {
    for (const auto& m : index) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }
};

// One output row: (source shard, row in that shard).
using Sel = std::vector<std::pair<int, int64_t>>;

// Copies the selected rows of one CSR field, from the shards that have it, into `out` in the
// order of `sel`. Works in groups of output rows that fit the budget; per group and shard it
// reads windows of the source that cover the rows it needs (sorted, so reads go forward).
// With `missing_is_empty`, a row selected from a shard without the field is an empty row.
template <typename T>
void gather_csr(const std::vector<const Csr*>& src, const Sel& sel, Csr& out, int64_t budget,
                bool missing_is_empty = false) {
  if (sel.empty()) return;
  const int64_t width = out.values().row_width();
  const int64_t row_bytes = width * static_cast<int64_t>(sizeof(T));
  const int64_t slab_rows = std::max<int64_t>(1, budget / 4 / row_bytes);
  std::vector<std::vector<int64_t>> offsets(src.size());
  for (size_t s = 0; s < src.size(); ++s) {
    if (src[s] != nullptr) offsets[s] = src[s]->read_offsets();
  }
  std::vector<int64_t> lengths(sel.size());
  for (size_t i = 0; i < sel.size(); ++i) {
    const auto& off = offsets[static_cast<size_t>(sel[i].first)];
    if (off.empty() && missing_is_empty) {
      lengths[i] = 0;
      continue;
    }
    XAI_CHECK(!off.empty(), "internal: merge selected a row from a shard without the field");
    lengths[i] =
        off[static_cast<size_t>(sel[i].second) + 1] - off[static_cast<size_t>(sel[i].second)];
  }
  std::vector<T> buf, window;
  for (size_t begin = 0; begin < sel.size();) {
    size_t end = begin;
    int64_t rows = 0;
    while (end < sel.size() && (end == begin || (rows + lengths[end]) * row_bytes <= budget)) {
      rows += lengths[end++];
    }
    buf.assign(static_cast<size_t>(rows * width), T{});
    // Per shard: (source row, destination row offset in buf), sorted by source row.
    std::vector<std::vector<std::pair<int64_t, int64_t>>> wanted(src.size());
    int64_t dst = 0;
    for (size_t i = begin; i < end; ++i) {
      const size_t s = static_cast<size_t>(sel[i].first);
      if (src[s] != nullptr) wanted[s].emplace_back(sel[i].second, dst);
      dst += lengths[i];
    }
    for (size_t s = 0; s < src.size(); ++s) {
      auto& w = wanted[s];
      if (w.empty()) continue;
      std::sort(w.begin(), w.end());
      const auto& off = offsets[s];
      for (size_t i = 0; i < w.size();) {
        const int64_t wstart = off[static_cast<size_t>(w[i].first)];
        size_t j = i;
        while (j + 1 < w.size() &&
               off[static_cast<size_t>(w[j + 1].first) + 1] - wstart <= slab_rows) {
          ++j;
        }
        const int64_t wend = off[static_cast<size_t>(w[j].first) + 1];
        window.resize(static_cast<size_t>((wend - wstart) * width));
        src[s]->values().read_rows(wstart, wend - wstart, window.data());
        for (size_t k = i; k <= j; ++k) {
          const int64_t r = w[k].first;
          const int64_t from = (off[static_cast<size_t>(r)] - wstart) * width;
          const int64_t n = (off[static_cast<size_t>(r) + 1] - off[static_cast<size_t>(r)]) * width;
          std::copy(window.begin() + from, window.begin() + from + n,
                    buf.begin() + w[k].second * width);
        }
        i = j + 1;
      }
    }
    out.append(buf, std::vector<int64_t>(lengths.begin() + static_cast<std::ptrdiff_t>(begin),
                                         lengths.begin() + static_cast<std::ptrdiff_t>(end)));
    begin = end;
  }
}

template <typename T>
std::vector<T> gather_column(const std::vector<std::vector<T>>& cols, const std::vector<bool>& has,
                             const Sel& sel, T fill) {
  std::vector<T> out(sel.size(), fill);
  for (size_t i = 0; i < sel.size(); ++i) {
    const size_t s = static_cast<size_t>(sel[i].first);
    if (has[s]) out[i] = cols[s][static_cast<size_t>(sel[i].second)];
  }
  return out;
}

void gather_any(layout::Elem elem, const std::vector<const Csr*>& src, const Sel& sel, Csr& out,
                int64_t budget) {
  switch (elem) {
    case layout::Elem::kU8:
      return gather_csr<uint8_t>(src, sel, out, budget);
    case layout::Elem::kI64:
      return gather_csr<int64_t>(src, sel, out, budget);
    case layout::Elem::kF32:
      return gather_csr<float>(src, sel, out, budget);
    case layout::Elem::kF64:
      return gather_csr<double>(src, sel, out, budget);
  }
}

// Opens <group>/<rel> in every source group given (with `optional`, in every one that has it);
// nullptr elsewhere.
struct CsrSet {
  std::vector<Csr> storage;
  std::vector<const Csr*> ptrs;
};
CsrSet open_csrs(const std::vector<h5::Group*>& groups, const std::string& rel,
                 bool optional = false) {
  CsrSet set;
  set.storage.resize(groups.size());
  set.ptrs.assign(groups.size(), nullptr);
  for (size_t s = 0; s < groups.size(); ++s) {
    if (groups[s] != nullptr && (!optional || groups[s]->has(rel))) {
      set.storage[s] = Csr::open(*groups[s], rel);
      set.ptrs[s] = &set.storage[s];
    }
  }
  return set;
}

class Merger {
 public:
  Merger(std::vector<Source>& sources, const MergeOptions& options, MergeSummary& summary)
      : sources_(sources), options_(options), summary_(summary) {}

  void run(h5::Group& out_root) {
    merge_root_attributes(out_root);
    std::set<std::string> models;
    for (const Source& src : sources_) {
      for (const auto& m : src.index) models.insert(m.name);
    }
    if (!models.empty()) {
      h5::Group out_models = out_root.create_group("models");
      for (const std::string& model : models) merge_model(out_models, model);
    }
    merge_failures(out_root);
  }

 private:
  void note_conflict(const std::string& what, const std::string& kept, size_t kept_src,
                     const std::string& other, size_t other_src) {
    summary_.conflicts.push_back(str_cat(what, ": kept '", kept, "' from ", sources_[kept_src].path,
                                         ", ignored '", other, "' from ",
                                         sources_[other_src].path));
  }

  void merge_root_attributes(h5::Group& out_root) {
    std::map<std::string, std::pair<std::string, size_t>> merged;
    for (size_t s = 0; s < sources_.size(); ++s) {
      for (const auto& [key, value] : layout::read_provenance(sources_[s].root)) {
        auto it = merged.find(key);
        if (it == merged.end()) {
          merged.emplace(key, std::make_pair(value, s));
        } else if (it->second.first != value && options_.provenance.count(key) == 0) {
          note_conflict(str_cat("attribute '", key, "'"), it->second.first, it->second.second,
                        value, s);
        }
      }
    }
    std::map<std::string, std::string> provenance;
    for (const auto& kv : merged) provenance[kv.first] = kv.second.first;
    for (const auto& kv : options_.provenance) provenance[kv.first] = kv.second;
    layout::write_root_attributes(out_root, layout::kKindResults, -1, provenance);
  }

  void merge_model(h5::Group& out_models, const std::string& model) {
    const size_t n_src = sources_.size();
    // Pick rows: sort by id; stable, so the lowest rank's earliest row comes first.
    struct Entry {
      const std::string* id;
      int src;
      int64_t row;
    };
    std::vector<Entry> entries;
    std::vector<h5::Group> model_groups(n_src);
    std::vector<h5::Group> sample_groups(n_src);
    std::vector<h5::Group*> samples(n_src, nullptr);
    for (size_t s = 0; s < n_src; ++s) {
      const layout::ModelIndex* mi = sources_[s].model(model);
      if (mi == nullptr) continue;
      model_groups[s] = sources_[s].root.open_group("models/" + model);
      sample_groups[s] = model_groups[s].open_group("samples");
      samples[s] = &sample_groups[s];
      for (size_t r = 0; r < mi->ids.size(); ++r) {
        entries.push_back({&mi->ids[r], static_cast<int>(s), static_cast<int64_t>(r)});
      }
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return *a.id < *b.id; });
    Sel sel;
    std::vector<std::vector<int64_t>> out_row(n_src);
    for (size_t s = 0; s < n_src; ++s) {
      if (const auto* mi = sources_[s].model(model)) out_row[s].assign(mi->ids.size(), -1);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0 && *entries[i].id == *entries[i - 1].id) {
        ++summary_.duplicates;
        continue;
      }
      out_row[static_cast<size_t>(entries[i].src)][static_cast<size_t>(entries[i].row)] =
          static_cast<int64_t>(sel.size());
      sel.emplace_back(entries[i].src, entries[i].row);
    }
    summary_.samples += static_cast<int64_t>(sel.size());
    summary_.samples_per_model[model] = static_cast<int64_t>(sel.size());

    const int64_t budget = std::max<int64_t>(options_.memory_budget_bytes, 1);
    h5::Group out_model = out_models.create_group(model);
    h5::Group out_samples = layout::create_samples_group(out_model, layout::kResultsChunking);
    for (const layout::CsrField& f : layout::sample_fields()) {
      CsrSet in = open_csrs(samples, f.name);
      Csr out = Csr::open(out_samples, f.name);
      gather_any(f.elem, in.ptrs, sel, out, budget);
    }
    {
      std::vector<std::vector<int64_t>> cols(n_src);
      std::vector<bool> has(n_src, false);
      for (size_t s = 0; s < n_src; ++s) {
        if (samples[s] == nullptr) continue;
        cols[s] = samples[s]->open_dataset(layout::kPromptLen).read_all<int64_t>();
        has[s] = true;
      }
      out_samples.open_dataset(layout::kPromptLen)
          .append(gather_column<int64_t>(cols, has, sel, 0));
    }

    std::set<std::string> names;
    for (size_t s = 0; s < n_src; ++s) {
      if (const auto* mi = sources_[s].model(model)) {
        for (const auto& e : mi->explainers) names.insert(e.name);
      }
    }
    for (const std::string& name : names) merge_explainer(out_model, model, name, out_row, budget);
  }

  void merge_explainer(h5::Group& out_model, const std::string& model, const std::string& name,
                       const std::vector<std::vector<int64_t>>& out_row, int64_t budget) {
    const size_t n_src = sources_.size();
    std::vector<h5::Group> groups(n_src);
    std::vector<h5::Group*> present(n_src, nullptr);
    struct Row {
      int64_t out;
      int src;
      int64_t row;
    };
    std::vector<Row> rows;
    int first = -1;
    std::string params;
    bool has_params = false;
    std::map<std::string, std::pair<MetricInfo, size_t>> metric_info;
    for (size_t s = 0; s < n_src; ++s) {
      const layout::ModelIndex* mi = sources_[s].model(model);
      if (mi == nullptr) continue;
      const layout::ExplainerIndex* ei = nullptr;
      for (const auto& e : mi->explainers) {
        if (e.name == name) ei = &e;
      }
      if (ei == nullptr) continue;
      groups[s] = sources_[s].root.open_group("models/" + model + "/explainers/" + name);
      present[s] = &groups[s];
      const std::string what = str_cat("model '", model, "', explainer '", name, "'");
      if (groups[s].has_attr(layout::kParametersAttr)) {
        const std::string p = groups[s].string_attr(layout::kParametersAttr);
        if (!has_params) {
          params = p;
          has_params = true;
          first = static_cast<int>(s);
        } else if (p != params) {
          note_conflict(what + " parameters", params, static_cast<size_t>(first), p, s);
        }
      }
      for (const auto& [metric, info] : layout::read_explainer_info(groups[s]).metrics) {
        auto it = metric_info.find(metric);
        if (it == metric_info.end()) {
          metric_info.emplace(metric, std::make_pair(info, s));
        } else if (!(it->second.first == info)) {
          note_conflict(str_cat(what, " metric '", metric, "' metadata"),
                        it->second.first.description, it->second.second, info.description, s);
        }
      }
      for (size_t j = 0; j < ei->sample.size(); ++j) {
        const int64_t o = out_row[s][static_cast<size_t>(ei->sample[j])];
        if (o >= 0) rows.push_back({o, static_cast<int>(s), static_cast<int64_t>(j)});
      }
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.out < b.out; });
    rows.erase(std::unique(rows.begin(), rows.end(),
                           [](const Row& a, const Row& b) { return a.out == b.out; }),
               rows.end());
    Sel sel;
    std::vector<int64_t> sample;
    for (const Row& r : rows) {
      sel.emplace_back(r.src, r.row);
      sample.push_back(r.out);
    }
    summary_.explanations += static_cast<int64_t>(sel.size());

    ExplainerInfo info;
    info.parameters_json = params;
    for (size_t s = 0; s < groups.size() && info.settings.empty(); ++s) {
      if (present[s] != nullptr && groups[s].has_attr(layout::kSettingsAttr)) {
        info.settings = groups[s].string_attr(layout::kSettingsAttr);
      }
    }
    h5::Group out = layout::create_explainer_group(out_model, name, has_params ? &info : nullptr,
                                                   layout::kResultsChunking);
    out.open_dataset("sample").append(sample);
    for (const char* field : {"relevance", "per_target"}) {
      CsrSet in = open_csrs(present, field);
      Csr o = Csr::open(out, field);
      gather_csr<float>(in.ptrs, sel, o, budget);
    }
    {
      std::vector<std::vector<int64_t>> cols(n_src);
      std::vector<bool> has(n_src, false);
      for (size_t s = 0; s < n_src; ++s) {
        if (present[s] == nullptr) continue;
        cols[s] = present[s]->open_dataset("per_target/n_targets").read_all<int64_t>();
        has[s] = true;
      }
      out.open_dataset("per_target/n_targets").append(gather_column<int64_t>(cols, has, sel, 0));
    }
    for (const char* kind : {"metrics", "cost"}) {
      std::set<std::string> columns;
      for (size_t s = 0; s < n_src; ++s) {
        if (present[s] != nullptr && present[s]->has(kind)) {
          for (const std::string& c : present[s]->open_group(kind).children()) columns.insert(c);
        }
      }
      for (const std::string& c : columns) {
        std::vector<std::vector<double>> cols(n_src);
        std::vector<bool> has(n_src, false);
        for (size_t s = 0; s < n_src; ++s) {
          const std::string rel = std::string(kind) + "/" + c;
          if (present[s] == nullptr || !present[s]->has(rel)) continue;
          cols[s] = present[s]->open_dataset(rel).read_all<double>();
          has[s] = true;
        }
        auto mi = metric_info.find(c);
        const MetricInfo* meta =
            std::string(kind) == "metrics" && mi != metric_info.end() ? &mi->second.first : nullptr;
        h5::Dataset d =
            layout::require_value_column(out, kind, c, 0, meta, layout::kResultsChunking);
        d.append(gather_column<double>(cols, has, sel, std::numeric_limits<double>::quiet_NaN()));
      }
    }
    // Extras: a row from a shard without the extra (written before it existed) is empty.
    std::set<std::string> extras;
    for (size_t s = 0; s < n_src; ++s) {
      if (present[s] == nullptr) continue;
      for (const std::string& x : layout::extra_names(*present[s])) extras.insert(x);
    }
    for (const std::string& x : extras) {
      const std::string rel = std::string(layout::kExtrasGroup) + "/" + x;
      CsrSet values = open_csrs(present, rel, /*optional=*/true);
      CsrSet shape = open_csrs(present, rel + "/" + layout::kShapeCsr, /*optional=*/true);
      layout::ExtraCsr o = layout::require_extra(out, x, 0, layout::kResultsChunking);
      gather_csr<float>(values.ptrs, sel, o.values, budget, /*missing_is_empty=*/true);
      gather_csr<int64_t>(shape.ptrs, sel, o.shape, budget, /*missing_is_empty=*/true);
    }
  }

  void merge_failures(h5::Group& out_root) {
    std::vector<Failure> all;
    for (const Source& src : sources_) {
      std::vector<Failure> f = layout::read_failures(src.root);
      all.insert(all.end(), f.begin(), f.end());
    }
    std::sort(all.begin(), all.end());
    const size_t before = all.size();
    all.erase(std::unique(all.begin(), all.end()), all.end());
    summary_.duplicate_failures = static_cast<int64_t>(before - all.size());
    summary_.failures = static_cast<int64_t>(all.size());
    layout::append_failures(out_root, all, layout::kResultsChunking);
  }

  std::vector<Source>& sources_;
  const MergeOptions& options_;
  MergeSummary& summary_;
};

}  // namespace

MergeSummary merge_shards(const std::string& out_dir, const MergeOptions& options) {
  MergeSummary summary;
  summary.shards = list_shards(out_dir);
  XAI_CHECK(!summary.shards.empty(), "no shards to merge in ", shards_dir(out_dir),
            " (expected rank-XXXXX.h5 files; HINT: did the run write any results?)");
  std::vector<Source> sources;
  for (const std::string& path : summary.shards) {
    Source src;
    src.path = path;
    try {
      src.file = h5::File::open(path, h5::Access::kReadOnly);
      src.root = src.file.root();
      layout::check_schema_version(src.root);
      src.index = layout::read_index(src.root, /*deep=*/false);
    } catch (const Error& e) {
      throw Error(str_cat("cannot merge shard ", path, ": ", e.what(),
                          " (HINT: if it is damaged, resume the run: it moves the shard aside and "
                          "recomputes its samples)"));
    }
    sources.push_back(std::move(src));
  }

  summary.output = out_dir + "/results.h5";
  const std::string tmp = str_cat(summary.output, ".tmp-", ::getpid());
  try {
    h5::File out = h5::File::create(tmp);
    h5::Group root = out.root();
    Merger(sources, options, summary).run(root);
    root = h5::Group();
    out.flush_to_disk();
    out.close();
  } catch (const Error& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    const std::string full = fsutil::no_space_note(out_dir);
    if (!full.empty()) {
      throw Error(str_cat(full, " while merging into ", summary.output,
                          "; the shards are intact. HINT: free space, then run xai merge ", out_dir,
                          " (or rerun with --resume)"));
    }
    throw;
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, summary.output, ec);
  XAI_CHECK(!ec, "cannot rename ", tmp, " to ", summary.output, ": ", ec.message());
  fsutil::sync_dir(out_dir);
  return summary;
}

}  // namespace xai
