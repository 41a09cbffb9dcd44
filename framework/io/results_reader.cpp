#include "framework/io/results_reader.h"

#include <cmath>

#include "framework/common/error.h"
#include "framework/io/hdf5.h"
#include "framework/io/results_layout.h"

namespace xai {

using layout::Csr;

struct ResultsReader::Impl {
  h5::File file;
  h5::Group root;

  h5::Group model(const std::string& name) const {
    const std::string rel = "models/" + name;
    if (!root.is_group(rel)) {
      std::string known;
      if (root.has("models")) {
        for (const std::string& m : root.open_group("models").children()) {
          known += (known.empty() ? "" : ", ") + m;
        }
      }
      throw Error(str_cat("no model '", name, "' in ", file.path(),
                          " (models: ", known.empty() ? "none" : known, ")"));
    }
    return root.open_group(rel);
  }

  h5::Group explainer(const std::string& model_name, const std::string& name) const {
    h5::Group m = model(model_name);
    const std::string rel = "explainers/" + name;
    if (!m.is_group(rel)) {
      throw Error(
          str_cat("no explainer '", name, "' for model '", model_name, "' in ", file.path()));
    }
    return m.open_group(rel);
  }
};

ResultsReader::ResultsReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->file = h5::File::open(path, h5::Access::kReadOnly);
  impl_->root = impl_->file.root();
  layout::check_schema_version(impl_->root);
}

ResultsReader::~ResultsReader() = default;
ResultsReader::ResultsReader(ResultsReader&&) noexcept = default;
ResultsReader& ResultsReader::operator=(ResultsReader&&) noexcept = default;

const std::string& ResultsReader::path() const { return impl_->file.path(); }

int64_t ResultsReader::schema_version() const {
  return impl_->root.int_attr(layout::kSchemaVersionAttr);
}

std::string ResultsReader::kind() const {
  return impl_->root.has_attr(layout::kKindAttr) ? impl_->root.string_attr(layout::kKindAttr) : "";
}

std::map<std::string, std::string> ResultsReader::provenance() const {
  return layout::read_provenance(impl_->root);
}

std::vector<std::string> ResultsReader::models() const {
  if (!impl_->root.has("models")) return {};
  return impl_->root.open_group("models").children();
}

std::vector<std::string> ResultsReader::sample_ids(const std::string& model) const {
  return layout::read_strings(Csr::open(impl_->model(model).open_group("samples"), "id"));
}

SampleTable ResultsReader::samples(const std::string& model) const {
  h5::Group g = impl_->model(model).open_group("samples");
  SampleTable t;
  t.ids = layout::read_strings(Csr::open(g, "id"));
  t.tokens = Csr::open(g, "tokens").read_all<int64_t>();
  t.token_offsets = Csr::open(g, "token_offsets").read_all<int64_t>();
  t.prompt_len = g.open_dataset(layout::kPromptLen).read_all<int64_t>();
  t.explain_mask = Csr::open(g, "explain_mask").read_all<uint8_t>();
  t.evidence = Csr::open(g, "evidence").read_all<float>();
  t.prompts = layout::read_strings(Csr::open(g, "prompt"));
  t.targets = layout::read_strings(Csr::open(g, "target"));
  const size_t n = t.ids.size();
  XAI_CHECK(t.tokens.rows() == n && t.token_offsets.rows() == n && t.prompt_len.size() == n &&
                t.explain_mask.rows() == n && t.evidence.rows() == n && t.prompts.size() == n &&
                t.targets.size() == n,
            "results file ", path(), " is inconsistent at '", g.path(),
            "': the sample fields have different row counts");
  return t;
}

std::vector<std::string> ResultsReader::explainers(const std::string& model) const {
  h5::Group m = impl_->model(model);
  if (!m.has("explainers")) return {};
  return m.open_group("explainers").children();
}

ExplainerInfo ResultsReader::explainer_info(const std::string& model,
                                            const std::string& explainer) const {
  return layout::read_explainer_info(impl_->explainer(model, explainer));
}

ExplainerTable ResultsReader::explainer(const std::string& model, const std::string& name) const {
  h5::Group e = impl_->explainer(model, name);
  ExplainerTable t;
  t.name = name;
  t.info = layout::read_explainer_info(e);
  t.sample = e.open_dataset("sample").read_all<int64_t>();
  t.relevance = Csr::open(e, "relevance").read_all<float>();
  t.per_target = Csr::open(e, "per_target").read_all<float>();
  t.n_targets = e.open_dataset("per_target/n_targets").read_all<int64_t>();
  for (const char* kind : {"metrics", "cost"}) {
    if (!e.has(kind)) continue;
    auto& dst = std::string(kind) == "metrics" ? t.metrics : t.cost;
    h5::Group g = e.open_group(kind);
    for (const std::string& c : g.children()) dst[c] = g.open_dataset(c).read_all<double>();
  }
  for (const std::string& x : layout::extra_names(e)) {
    const layout::ExtraCsr csr = layout::open_extra(e, x);
    t.extras[x] = {csr.values.read_all<float>(), csr.shape.read_all<int64_t>()};
  }
  const size_t m = t.sample.size();
  bool ok = t.relevance.rows() == m && t.per_target.rows() == m && t.n_targets.size() == m;
  for (const auto& kv : t.metrics) ok = ok && kv.second.size() == m;
  for (const auto& kv : t.cost) ok = ok && kv.second.size() == m;
  for (const auto& kv : t.extras) {
    ok = ok && kv.second.values.rows() == m && kv.second.shape.rows() == m;
  }
  XAI_CHECK(ok, "results file ", path(), " is inconsistent at '", e.path(),
            "': the explainer's columns have different row counts");
  return t;
}

std::vector<SampleRecord> ResultsReader::records(const std::string& model) const {
  SampleTable t = samples(model);
  std::vector<SampleRecord> out(t.ids.size());
  for (size_t i = 0; i < out.size(); ++i) {
    SampleRecord& r = out[i];
    r.model = model;
    r.sample_id = t.ids[i];
    r.tokens = t.tokens.row(i);
    const std::vector<int64_t> spans = t.token_offsets.row(i);
    for (size_t k = 0; k + 1 < spans.size(); k += 2)
      r.token_offsets.push_back({spans[k], spans[k + 1]});
    r.prompt_len = t.prompt_len[i];
    r.explain_mask = t.explain_mask.row(i);
    r.evidence = t.evidence.row(i);
    r.prompt = t.prompts[i];
    r.target = t.targets[i];
  }
  for (const std::string& name : explainers(model)) {
    ExplainerTable e = explainer(model, name);
    for (size_t j = 0; j < e.rows(); ++j) {
      const int64_t s = e.sample[j];
      XAI_CHECK(s >= 0 && static_cast<size_t>(s) < out.size(), "results file ", path(),
                ": explainer '", name, "' of model '", model, "' refers to sample row ", s, " of ",
                out.size());
      ExplanationRecord x;
      x.relevance = e.relevance.row(j);
      x.per_target = e.per_target.row(j);
      x.n_targets = e.n_targets[j];
      for (const auto& [metric, col] : e.metrics) {
        if (!std::isnan(col[j])) x.metrics[metric] = col[j];
      }
      for (const auto& [field, col] : e.cost) {
        if (!std::isnan(col[j])) x.cost[field] = col[j];
      }
      for (const auto& [extra, col] : e.extras) {
        if (col.has(j)) x.extras[extra] = col.row(j);
      }
      out[static_cast<size_t>(s)].explanations[name] = std::move(x);
    }
  }
  return out;
}

std::vector<Failure> ResultsReader::failures() const { return layout::read_failures(impl_->root); }

}  // namespace xai
