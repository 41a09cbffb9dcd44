#include "framework/io/results_layout.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "framework/common/error.h"

namespace xai::layout {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void inconsistent(const std::string& file, const std::string& path,
                               const std::string& detail) {
  throw Error(str_cat("results file ", file, " is inconsistent at '", path, "': ", detail,
                      " (HINT: the file was damaged, e.g. by a crash or a full disk during a "
                      "flush; xai run --resume repairs a damaged shard, or sets it aside, and "
                      "computes its samples again)"));
}

h5::Dataset create_typed(h5::Group& parent, const std::string& name, Elem elem,
                         const h5::ChunkSpec& spec) {
  switch (elem) {
    case Elem::kU8:
      return parent.create_dataset<uint8_t>(name, spec);
    case Elem::kI64:
      return parent.create_dataset<int64_t>(name, spec);
    case Elem::kF32:
      return parent.create_dataset<float>(name, spec);
    case Elem::kF64:
      return parent.create_dataset<double>(name, spec);
  }
  throw Error("unknown element type");
}

// Reads a dataset through in blocks, so every chunk is decompressed (and checked) once.
void read_through(const h5::Dataset& d) {
  const int64_t rows = d.rows();
  const int64_t width = d.row_width();
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 20) / width);
  std::vector<double> buf;
  for (int64_t r = 0; r < rows; r += block) {
    const int64_t n = std::min(block, rows - r);
    buf.resize(static_cast<size_t>(n * width));
    d.read_rows(r, n, buf.data());
  }
}

void check_rows(const h5::Dataset& d, int64_t expected, const char* what) {
  const int64_t rows = d.rows();
  if (rows != expected) {
    inconsistent(d.file_path(), d.path(),
                 str_cat("has ", rows, " rows, expected ", expected, " (", what, ")"));
  }
}

}  // namespace

const std::vector<CsrField>& sample_fields() {
  static const std::vector<CsrField> fields = {
      {"id", Elem::kU8, 1, true},
      {"tokens", Elem::kI64, 1, false},
      {"token_offsets", Elem::kI64, 2, false},
      {"explain_mask", Elem::kU8, 1, false},
      {"evidence", Elem::kF32, 1, false},
      {"prompt", Elem::kU8, 1, true},
      {"target", Elem::kU8, 1, true},
  };
  return fields;
}

size_t elem_size(Elem e) {
  switch (e) {
    case Elem::kU8:
      return 1;
    case Elem::kI64:
      return 8;
    case Elem::kF32:
      return 4;
    case Elem::kF64:
      return 8;
  }
  return 1;
}

// ---- Csr
// ------------------------------------------------------------------------------------------

Csr Csr::create(h5::Group& parent, const std::string& name, Elem elem, int64_t width, bool is_bytes,
                const Chunking& chunking) {
  Csr c;
  c.group_ = parent.create_group(name);
  h5::ChunkSpec vspec;
  vspec.row_width = width;
  vspec.chunk_rows =
      std::max<int64_t>(1, chunking.values_bytes /
                               static_cast<int64_t>(elem_size(elem) * static_cast<size_t>(width)));
  vspec.deflate_level = chunking.deflate_level;
  c.values_ = create_typed(c.group_, is_bytes ? "bytes" : "values", elem, vspec);
  h5::ChunkSpec ospec;
  ospec.chunk_rows = chunking.column_rows;
  ospec.deflate_level = chunking.deflate_level;
  c.offsets_ = c.group_.create_dataset<int64_t>("offsets", ospec);
  const int64_t zero = 0;
  c.offsets_.append(&zero, 1);
  return c;
}

Csr Csr::open(const h5::Group& parent, const std::string& name) {
  Csr c;
  c.group_ = parent.open_group(name);
  c.values_ = c.group_.open_dataset(c.group_.has("bytes") ? "bytes" : "values");
  c.offsets_ = c.group_.open_dataset("offsets");
  if (c.offsets_.rows() < 1) inconsistent(c.offsets_.file_path(), c.offsets_.path(), "is empty");
  return c;
}

std::vector<int64_t> Csr::read_offsets() const {
  std::vector<int64_t> off = offsets_.read_all<int64_t>();
  if (off.empty() || off[0] != 0) {
    inconsistent(offsets_.file_path(), offsets_.path(), "does not start with 0");
  }
  for (size_t i = 1; i < off.size(); ++i) {
    if (off[i] < off[i - 1]) {
      inconsistent(offsets_.file_path(), offsets_.path(), str_cat("decreases at row ", i));
    }
  }
  const int64_t n = values_.rows();
  if (off.back() != n) {
    inconsistent(offsets_.file_path(), offsets_.path(),
                 str_cat("ends at ", off.back(), " but '", values_.path(), "' has ", n, " rows"));
  }
  return off;
}

void Csr::append_offsets(const std::vector<int64_t>& lengths, int64_t appended_rows) {
  const int64_t n = offsets_.rows();
  int64_t last = 0;
  offsets_.read_rows(n - 1, 1, &last);
  const int64_t base = values_.rows() - appended_rows;
  if (last != base) {
    inconsistent(offsets_.file_path(), offsets_.path(),
                 str_cat("ends at ", last, " but '", values_.path(), "' has ", base, " rows"));
  }
  std::vector<int64_t> add(lengths.size());
  int64_t pos = base;
  for (size_t i = 0; i < lengths.size(); ++i) add[i] = pos += lengths[i];
  XAI_CHECK(pos == values_.rows(), "internal: CSR lengths do not add up for ", group_.path());
  offsets_.append(add.data(), static_cast<int64_t>(add.size()));
}

template <typename T>
void Csr::append(const std::vector<T>& flat, const std::vector<int64_t>& lengths) {
  if (lengths.empty()) return;
  const int64_t rows = static_cast<int64_t>(flat.size()) / values_.row_width();
  values_.append(flat.data(), rows);
  append_offsets(lengths, rows);
}

template <typename T>
Ragged<T> Csr::read_all() const {
  Ragged<T> r;
  r.offsets = read_offsets();
  r.values = values_.read_all<T>();
  const int64_t w = values_.row_width();
  if (w != 1) {
    for (auto& o : r.offsets) o *= w;
  }
  return r;
}

template void Csr::append(const std::vector<uint8_t>&, const std::vector<int64_t>&);
template void Csr::append(const std::vector<int64_t>&, const std::vector<int64_t>&);
template void Csr::append(const std::vector<float>&, const std::vector<int64_t>&);
template void Csr::append(const std::vector<double>&, const std::vector<int64_t>&);
template Ragged<uint8_t> Csr::read_all() const;
template Ragged<int64_t> Csr::read_all() const;
template Ragged<float> Csr::read_all() const;
template Ragged<double> Csr::read_all() const;

void append_strings(Csr& csr, const std::vector<std::string>& strings) {
  std::vector<uint8_t> flat;
  std::vector<int64_t> lengths;
  lengths.reserve(strings.size());
  for (const std::string& s : strings) {
    flat.insert(flat.end(), s.begin(), s.end());
    lengths.push_back(static_cast<int64_t>(s.size()));
  }
  csr.append(flat, lengths);
}

std::vector<std::string> read_strings(const Csr& csr) {
  Ragged<uint8_t> r = csr.read_all<uint8_t>();
  std::vector<std::string> out(r.rows());
  for (size_t i = 0; i < r.rows(); ++i) {
    out[i].assign(reinterpret_cast<const char*>(r.row_data(i)), static_cast<size_t>(r.row_size(i)));
  }
  return out;
}

// ---- groups and columns
// ---------------------------------------------------------------------------

h5::Dataset create_column(h5::Group& parent, const std::string& name, Elem elem,
                          const Chunking& chunking) {
  h5::ChunkSpec spec;
  spec.chunk_rows = chunking.column_rows;
  spec.deflate_level = chunking.deflate_level;
  return create_typed(parent, name, elem, spec);
}

h5::Group create_samples_group(h5::Group& model_group, const Chunking& chunking) {
  h5::Group samples = model_group.create_group("samples");
  for (const CsrField& f : sample_fields()) {
    Csr::create(samples, f.name, f.elem, f.width, f.is_bytes, chunking);
  }
  create_column(samples, kPromptLen, Elem::kI64, chunking);
  return samples;
}

h5::Group create_explainer_group(h5::Group& model_group, const std::string& name,
                                 const ExplainerInfo* info, const Chunking& chunking) {
  h5::Group explainers = model_group.require_group("explainers");
  h5::Group e = explainers.create_group(name);
  if (info != nullptr) e.set_attr(kParametersAttr, info->parameters_json);
  if (info != nullptr && !info->settings.empty()) e.set_attr(kSettingsAttr, info->settings);
  create_column(e, "sample", Elem::kI64, chunking);
  Csr::create(e, "relevance", Elem::kF32, 1, false, chunking);
  Csr per_target = Csr::create(e, "per_target", Elem::kF32, 1, false, chunking);
  create_column(per_target.group(), "n_targets", Elem::kI64, chunking);
  e.create_group("metrics");
  e.create_group("cost");
  e.create_group(kExtrasGroup);
  if (info != nullptr) {
    for (const auto& [metric, mi] : info->metrics) {
      require_value_column(e, "metrics", metric, 0, &mi, chunking);
    }
  }
  return e;
}

h5::Dataset require_value_column(h5::Group& explainer, const std::string& kind,
                                 const std::string& name, int64_t rows, const MetricInfo* info,
                                 const Chunking& chunking) {
  h5::Group g = explainer.require_group(kind);
  if (g.has(name)) {
    h5::Dataset d = g.open_dataset(name);
    check_rows(d, rows, "one per explainer row");
    return d;
  }
  h5::Dataset d = create_column(g, name, Elem::kF64, chunking);
  if (rows > 0) d.append(std::vector<double>(static_cast<size_t>(rows), kNaN));
  if (info != nullptr) {
    d.set_attr(kHigherIsBetterAttr, static_cast<int64_t>(info->higher_is_better ? 1 : 0));
    d.set_attr(kDescriptionAttr, info->description);
  }
  return d;
}

ExplainerInfo read_explainer_info(const h5::Group& explainer) {
  ExplainerInfo info;
  info.parameters_json =
      explainer.has_attr(kParametersAttr) ? explainer.string_attr(kParametersAttr) : "";
  if (explainer.has_attr(kSettingsAttr)) info.settings = explainer.string_attr(kSettingsAttr);
  if (explainer.has("metrics")) {
    h5::Group metrics = explainer.open_group("metrics");
    for (const std::string& m : metrics.children()) {
      h5::Dataset d = metrics.open_dataset(m);
      if (!d.has_attr(kHigherIsBetterAttr)) continue;
      MetricInfo mi;
      mi.higher_is_better = d.int_attr(kHigherIsBetterAttr) != 0;
      if (d.has_attr(kDescriptionAttr)) mi.description = d.string_attr(kDescriptionAttr);
      info.metrics[m] = mi;
    }
  }
  return info;
}

ExtraCsr require_extra(h5::Group& explainer, const std::string& name, int64_t rows,
                       const Chunking& chunking) {
  h5::Group g = explainer.require_group(kExtrasGroup);
  if (g.has(name)) {
    ExtraCsr x = open_extra(explainer, name);
    if (x.values.rows() != rows || x.shape.rows() != rows) {
      inconsistent(g.file_path(), g.path() + "/" + name,
                   str_cat("has ", x.values.rows(), " rows (shape ", x.shape.rows(), "), expected ",
                           rows, " (one per explainer row)"));
    }
    return x;
  }
  ExtraCsr x;
  x.values = Csr::create(g, name, Elem::kF32, 1, false, chunking);
  x.shape = Csr::create(x.values.group(), kShapeCsr, Elem::kI64, 1, false, chunking);
  if (rows > 0) {
    const std::vector<int64_t> empty(static_cast<size_t>(rows), 0);
    x.values.append(std::vector<float>(), empty);
    x.shape.append(std::vector<int64_t>(), empty);
  }
  return x;
}

ExtraCsr open_extra(const h5::Group& explainer, const std::string& name) {
  ExtraCsr x;
  x.values = Csr::open(explainer, std::string(kExtrasGroup) + "/" + name);
  x.shape = Csr::open(x.values.group(), kShapeCsr);
  return x;
}

std::vector<std::string> extra_names(const h5::Group& explainer) {
  if (!explainer.has(kExtrasGroup)) return {};
  return explainer.open_group(kExtrasGroup).children();
}

// ---- root attributes
// ------------------------------------------------------------------------------

void write_root_attributes(h5::Group& root, const char* kind, int64_t rank,
                           const std::map<std::string, std::string>& provenance) {
  for (const auto& [key, value] : provenance) {
    XAI_CHECK(!key.empty() && key != kSchemaVersionAttr && key != kKindAttr && key != kRankAttr,
              "provenance key '", key, "' is empty or reserved by the results layout (",
              kSchemaVersionAttr, ", ", kKindAttr, ", ", kRankAttr, ")");
  }
  // The provenance of the run that writes last replaces what an earlier run left.
  for (const std::string& name : root.attr_names()) {
    if (name != kKindAttr && root.attr_is_string(name) && provenance.count(name) == 0) {
      root.delete_attr(name);
    }
  }
  root.set_attr(kSchemaVersionAttr, kResultsSchemaVersion);
  root.set_attr(kKindAttr, std::string(kind));
  if (rank >= 0) root.set_attr(kRankAttr, rank);
  for (const auto& [key, value] : provenance) root.set_attr(key, value);
}

std::map<std::string, std::string> read_provenance(const h5::Group& root) {
  std::map<std::string, std::string> out;
  for (const std::string& name : root.attr_names()) {
    if (name != kKindAttr && root.attr_is_string(name)) out[name] = root.string_attr(name);
  }
  return out;
}

int64_t check_schema_version(const h5::Group& root) {
  if (!root.has_attr(kSchemaVersionAttr)) {
    throw Error(str_cat(root.file_path(), " is not an xai results file (no '", kSchemaVersionAttr,
                        "' attribute)"));
  }
  const int64_t v = root.int_attr(kSchemaVersionAttr);
  XAI_CHECK(v >= 1 && v <= kResultsSchemaVersion, root.file_path(), " has results schema_version ",
            v, "; this build reads versions 1 to ", kResultsSchemaVersion,
            " (HINT: read it with a newer xai)");
  return v;
}

// ---- appending records
// ----------------------------------------------------------------------------

namespace {

void append_values(h5::Group& explainer, const std::string& kind, int64_t m,
                   const std::vector<const ExplanationRecord*>& rows, const ExplainerInfo* info,
                   const Chunking& chunking) {
  const bool is_metric = kind == "metrics";
  std::set<std::string> names;
  if (explainer.has(kind)) {
    for (const std::string& n : explainer.open_group(kind).children()) names.insert(n);
  }
  for (const ExplanationRecord* e : rows) {
    for (const auto& kv : is_metric ? e->metrics : e->cost) names.insert(kv.first);
  }
  for (const std::string& name : names) {
    const MetricInfo* mi = nullptr;
    if (is_metric && info != nullptr) {
      auto it = info->metrics.find(name);
      if (it != info->metrics.end()) mi = &it->second;
    }
    h5::Dataset d = require_value_column(explainer, kind, name, m, mi, chunking);
    std::vector<double> v(rows.size(), kNaN);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& src = is_metric ? rows[i]->metrics : rows[i]->cost;
      auto it = src.find(name);
      if (it != src.end()) v[i] = it->second;
    }
    d.append(v);
  }
}

// Every extra the file or the new rows have gets a row per new row; empty where a row lacks it.
void append_extras(h5::Group& explainer, int64_t m,
                   const std::vector<const ExplanationRecord*>& rows, const Chunking& chunking) {
  std::set<std::string> names;
  for (const std::string& n : extra_names(explainer)) names.insert(n);
  for (const ExplanationRecord* e : rows) {
    for (const auto& kv : e->extras) names.insert(kv.first);
  }
  for (const std::string& name : names) {
    ExtraCsr x = require_extra(explainer, name, m, chunking);
    std::vector<float> values;
    std::vector<int64_t> dims, lengths, dim_lengths;
    for (const ExplanationRecord* e : rows) {
      auto it = e->extras.find(name);
      if (it == e->extras.end()) {
        lengths.push_back(0);
        dim_lengths.push_back(0);
        continue;
      }
      const ExtraArray& a = it->second;
      values.insert(values.end(), a.values.begin(), a.values.end());
      dims.insert(dims.end(), a.shape.begin(), a.shape.end());
      lengths.push_back(static_cast<int64_t>(a.values.size()));
      dim_lengths.push_back(static_cast<int64_t>(a.shape.size()));
    }
    x.values.append(values, lengths);
    x.shape.append(dims, dim_lengths);
  }
}

// Declared explainers and metrics exist in every model group, so the set of groups and columns
// in a merged file does not depend on which rank saw which model.
void ensure_declared(h5::Group& model_group, const ResultsMeta& meta, const Chunking& chunking) {
  h5::Group explainers = model_group.require_group("explainers");
  for (const auto& [name, info] : meta.explainers) {
    if (!explainers.has(name)) {
      create_explainer_group(model_group, name, &info, chunking);
      continue;
    }
    h5::Group e = explainers.open_group(name);
    const int64_t m = e.open_dataset("sample").rows();
    for (const auto& [metric, mi] : info.metrics) {
      require_value_column(e, "metrics", metric, m, &mi, chunking);
    }
  }
}

void append_model(h5::Group& models, const std::string& model,
                  const std::vector<const SampleRecord*>& recs, const ResultsMeta& meta,
                  const Chunking& chunking) {
  const bool fresh = !models.has(model);
  h5::Group mg = fresh ? models.create_group(model) : models.open_group(model);
  h5::Group samples = fresh ? create_samples_group(mg, chunking) : mg.open_group("samples");
  ensure_declared(mg, meta, chunking);

  Csr ids = Csr::open(samples, "id");
  const int64_t base = ids.rows();
  {
    std::vector<std::string> v;
    for (const SampleRecord* r : recs) v.push_back(r->sample_id);
    append_strings(ids, v);
  }
  {
    std::vector<int64_t> tokens, spans, lengths, prompt_len;
    std::vector<uint8_t> mask;
    std::vector<float> evidence;
    std::vector<int64_t> evidence_lengths;
    for (const SampleRecord* r : recs) {
      tokens.insert(tokens.end(), r->tokens.begin(), r->tokens.end());
      for (const ByteSpan& s : r->token_offsets) {
        spans.push_back(s.begin);
        spans.push_back(s.end);
      }
      mask.insert(mask.end(), r->explain_mask.begin(), r->explain_mask.end());
      evidence.insert(evidence.end(), r->evidence.begin(), r->evidence.end());
      lengths.push_back(r->size());
      evidence_lengths.push_back(static_cast<int64_t>(r->evidence.size()));
      prompt_len.push_back(r->prompt_len);
    }
    Csr::open(samples, "tokens").append(tokens, lengths);
    Csr::open(samples, "token_offsets").append(spans, lengths);
    Csr::open(samples, "explain_mask").append(mask, lengths);
    Csr::open(samples, "evidence").append(evidence, evidence_lengths);
    samples.open_dataset(kPromptLen).append(prompt_len);
  }
  for (const char* field : {"prompt", "target"}) {
    std::vector<std::string> v;
    for (const SampleRecord* r : recs) v.push_back(field[0] == 'p' ? r->prompt : r->target);
    Csr csr = Csr::open(samples, field);
    append_strings(csr, v);
  }

  std::set<std::string> names;
  for (const SampleRecord* r : recs) {
    for (const auto& kv : r->explanations) names.insert(kv.first);
  }
  h5::Group explainers = mg.require_group("explainers");
  for (const std::string& name : names) {
    auto info_it = meta.explainers.find(name);
    const ExplainerInfo* info = info_it == meta.explainers.end() ? nullptr : &info_it->second;
    h5::Group e = explainers.has(name) ? explainers.open_group(name)
                                       : create_explainer_group(mg, name, info, chunking);
    std::vector<int64_t> sample, lengths, pt_lengths, n_targets;
    std::vector<float> relevance, per_target;
    std::vector<const ExplanationRecord*> rows;
    for (size_t i = 0; i < recs.size(); ++i) {
      auto it = recs[i]->explanations.find(name);
      if (it == recs[i]->explanations.end()) continue;
      const ExplanationRecord& x = it->second;
      rows.push_back(&x);
      sample.push_back(base + static_cast<int64_t>(i));
      relevance.insert(relevance.end(), x.relevance.begin(), x.relevance.end());
      lengths.push_back(static_cast<int64_t>(x.relevance.size()));
      per_target.insert(per_target.end(), x.per_target.begin(), x.per_target.end());
      pt_lengths.push_back(static_cast<int64_t>(x.per_target.size()));
      n_targets.push_back(x.n_targets);
    }
    h5::Dataset sample_ds = e.open_dataset("sample");
    const int64_t m = sample_ds.rows();
    sample_ds.append(sample);
    Csr::open(e, "relevance").append(relevance, lengths);
    Csr pt = Csr::open(e, "per_target");
    pt.append(per_target, pt_lengths);
    pt.group().open_dataset("n_targets").append(n_targets);
    append_values(e, "metrics", m, rows, info, chunking);
    append_values(e, "cost", m, rows, info, chunking);
    append_extras(e, m, rows, chunking);
  }
}

}  // namespace

void append_records(h5::Group& root, const std::vector<SampleRecord>& records,
                    const ResultsMeta& meta, const Chunking& chunking) {
  if (records.empty()) return;
  std::vector<std::string> order;
  std::map<std::string, std::vector<const SampleRecord*>> by_model;
  for (const SampleRecord& r : records) {
    auto& v = by_model[r.model];
    if (v.empty()) order.push_back(r.model);
    v.push_back(&r);
  }
  h5::Group models = root.require_group("models");
  for (const std::string& model : order)
    append_model(models, model, by_model[model], meta, chunking);
}

namespace {
constexpr const char* kFailureFields[] = {"model", "sample", "explainer", "message"};
}

void append_failures(h5::Group& root, const std::vector<Failure>& failures,
                     const Chunking& chunking) {
  // /failures exists in every file, empty when nothing failed: readers need no special case.
  const bool fresh = !root.has("failures");
  if (failures.empty() && !fresh) return;
  h5::Group g = root.require_group("failures");
  for (const char* field : kFailureFields) {
    Csr csr = fresh ? Csr::create(g, field, Elem::kU8, 1, true, chunking) : Csr::open(g, field);
    std::vector<std::string> v;
    for (const Failure& f : failures) {
      const std::string name = field;
      v.push_back(name == "model"       ? f.model
                  : name == "sample"    ? f.sample_id
                  : name == "explainer" ? f.explainer
                                        : f.message);
    }
    append_strings(csr, v);
  }
}

std::vector<Failure> read_failures(const h5::Group& root) {
  if (!root.has("failures")) return {};
  h5::Group g = root.open_group("failures");
  std::vector<std::vector<std::string>> cols;
  for (const char* field : kFailureFields) cols.push_back(read_strings(Csr::open(g, field)));
  for (size_t c = 1; c < cols.size(); ++c) {
    if (cols[c].size() != cols[0].size()) {
      inconsistent(g.file_path(), g.path() + "/" + kFailureFields[c],
                   str_cat("has ", cols[c].size(), " rows, expected ", cols[0].size()));
    }
  }
  std::vector<Failure> out(cols[0].size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = Failure{cols[0][i], cols[1][i], cols[2][i], cols[3][i]};
  }
  return out;
}

// ---- index and checks
// -----------------------------------------------------------------------------

namespace {

// An extra has one row per explainer row, and each row holds product(shape) values (a row with
// neither values nor dimensions: no extra there).
void check_extra(const h5::Group& explainer, const std::string& name, int64_t m, bool deep) {
  ExtraCsr x = open_extra(explainer, name);
  const std::string where = x.values.group().path();
  if (x.values.rows() != m || x.shape.rows() != m) {
    inconsistent(explainer.file_path(), where,
                 str_cat("has ", x.values.rows(), " rows (shape ", x.shape.rows(), "), expected ",
                         m, " (one per explainer row)"));
  }
  const std::vector<int64_t> off = x.values.read_offsets();
  const Ragged<int64_t> shape = x.shape.read_all<int64_t>();
  for (size_t j = 0; j < shape.rows(); ++j) {
    const int64_t len = off[j + 1] - off[j];
    if (shape.row_size(j) == 0 && len == 0) continue;
    int64_t n = 1;
    for (int64_t k = 0; k < shape.row_size(j); ++k) n *= shape.row_data(j)[k];
    if (n != len) {
      inconsistent(explainer.file_path(), where,
                   str_cat("row ", j, " has ", len, " values for a shape of ", n, " elements"));
    }
  }
  if (deep) read_through(x.values.values());
}

}  // namespace

std::vector<ModelIndex> read_index(const h5::Group& root, bool deep) {
  std::vector<ModelIndex> out;
  if (!root.has("models")) return out;
  h5::Group models = root.open_group("models");
  for (const std::string& model : models.children()) {
    ModelIndex mi;
    mi.name = model;
    h5::Group mg = models.open_group(model);
    h5::Group samples = mg.open_group("samples");
    mi.ids = read_strings(Csr::open(samples, "id"));
    const int64_t n = static_cast<int64_t>(mi.ids.size());
    std::vector<int64_t> token_off;
    for (const CsrField& f : sample_fields()) {
      Csr csr = Csr::open(samples, f.name);
      std::vector<int64_t> off = csr.read_offsets();
      if (static_cast<int64_t>(off.size()) != n + 1) {
        inconsistent(samples.file_path(), samples.path() + "/" + f.name + "/offsets",
                     str_cat("has ", off.size(), " entries for ", n, " samples"));
      }
      const std::string name = f.name;
      if (name == "tokens") token_off = off;
      if (name == "token_offsets" || name == "explain_mask") {
        if (off != token_off) {
          inconsistent(samples.file_path(), samples.path() + "/" + f.name,
                       "row lengths differ from the token counts");
        }
      }
      if (name == "evidence") {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t len = off[i + 1] - off[i];
          if (len != 0 && len != token_off[i + 1] - token_off[i]) {
            inconsistent(samples.file_path(), samples.path() + "/evidence",
                         str_cat("row ", i, " has ", len, " values for ",
                                 token_off[i + 1] - token_off[i], " tokens"));
          }
        }
      }
      if (deep) read_through(csr.values());
    }
    check_rows(samples.open_dataset(kPromptLen), n, "one per sample");

    if (mg.has("explainers")) {
      h5::Group explainers = mg.open_group("explainers");
      for (const std::string& name : explainers.children()) {
        h5::Group e = explainers.open_group(name);
        ExplainerIndex ei;
        ei.name = name;
        h5::Dataset sample = e.open_dataset("sample");
        ei.sample = sample.read_all<int64_t>();
        const int64_t m = static_cast<int64_t>(ei.sample.size());
        for (int64_t s : ei.sample) {
          if (s < 0 || s >= n) {
            inconsistent(sample.file_path(), sample.path(),
                         str_cat("refers to sample row ", s, " of ", n));
          }
        }
        for (const char* csr_name : {"relevance", "per_target"}) {
          Csr csr = Csr::open(e, csr_name);
          if (csr.rows() != m) {
            inconsistent(e.file_path(), e.path() + "/" + csr_name,
                         str_cat("has ", csr.rows(), " rows, expected ", m));
          }
          csr.read_offsets();
          if (deep) read_through(csr.values());
        }
        check_rows(e.open_dataset("per_target/n_targets"), m, "one per explainer row");
        for (const char* kind : {"metrics", "cost"}) {
          if (!e.has(kind)) continue;
          h5::Group g = e.open_group(kind);
          for (const std::string& col : g.children()) {
            h5::Dataset d = g.open_dataset(col);
            check_rows(d, m, "one per explainer row");
            if (deep) read_through(d);
          }
        }
        for (const std::string& extra : extra_names(e)) check_extra(e, extra, m, deep);
        mi.explainers.push_back(std::move(ei));
      }
    }
    out.push_back(std::move(mi));
  }
  return out;
}

}  // namespace xai::layout
