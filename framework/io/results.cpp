#include "framework/io/results.h"

#include <cmath>

#include "framework/common/error.h"

namespace xai {

void validate_name(const std::string& name, const std::string& what) {
  XAI_CHECK(!name.empty() && name != "." && name.find('/') == std::string::npos, "invalid ", what,
            " name '", name,
            "': names are stored as HDF5 object names, so they must be non-empty, ",
            "not '.', and contain no '/'");
}

void validate_record(const SampleRecord& r) {
  validate_name(r.model, "model");
  const std::string where = str_cat("model '", r.model, "', sample '", r.sample_id, "'");
  const size_t t = r.tokens.size();
  XAI_CHECK(r.token_offsets.size() == t, where, ": ", r.token_offsets.size(), " token offsets for ",
            t, " tokens");
  XAI_CHECK(r.explain_mask.size() == t, where, ": explain_mask has ", r.explain_mask.size(),
            " entries for ", t, " tokens");
  XAI_CHECK(r.evidence.empty() || r.evidence.size() == t, where, ": evidence has ",
            r.evidence.size(), " entries for ", t, " tokens (expected ", t, " or none)");
  XAI_CHECK(r.prompt_len >= 0 && static_cast<size_t>(r.prompt_len) <= t, where, ": prompt_len ",
            r.prompt_len, " is outside [0, ", t, "]");
  for (const auto& [name, e] : r.explanations) {
    validate_name(name, "explainer");
    const std::string ew = str_cat(where, ", explainer '", name, "'");
    XAI_CHECK(e.relevance.size() == t, ew, ": relevance has ", e.relevance.size(), " entries for ",
              t, " tokens");
    XAI_CHECK(e.n_targets >= 0 && e.per_target.size() == static_cast<size_t>(e.n_targets) * t, ew,
              ": per_target has ", e.per_target.size(), " entries, expected n_targets (",
              e.n_targets, ") x T (", t, ")");
    for (const auto& kv : e.metrics) validate_name(kv.first, "metric");
    for (const auto& kv : e.cost) validate_name(kv.first, "cost");
    for (const auto& [extra, a] : e.extras) {
      validate_name(extra, "extra");
      int64_t n = 1;
      for (int64_t d : a.shape) {
        XAI_CHECK(d >= 0, ew, ": extra '", extra, "' has a negative dimension ", d);
        n *= d;
      }
      XAI_CHECK(a.values.size() == static_cast<size_t>(n), ew, ": extra '", extra, "' has ",
                a.values.size(), " values for a shape with ", n, " elements");
    }
  }
}

namespace {

// Values equal, or both NaN (a NaN read back from a column means "not computed").
bool same_values(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first) return false;
    if (!(ia->second == ib->second || (std::isnan(ia->second) && std::isnan(ib->second)))) {
      return false;
    }
  }
  return true;
}

// Equal, or both NaN (the no-score of a position outside the explained set).
bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

}  // namespace

bool operator==(const ExtraArray& a, const ExtraArray& b) {
  return a.shape == b.shape && a.values == b.values;
}

bool operator==(const ExplanationRecord& a, const ExplanationRecord& b) {
  return same_floats(a.relevance, b.relevance) && a.n_targets == b.n_targets &&
         same_floats(a.per_target, b.per_target) && same_values(a.metrics, b.metrics) &&
         same_values(a.cost, b.cost) && a.extras == b.extras;
}

bool operator==(const SampleRecord& a, const SampleRecord& b) {
  return a.model == b.model && a.sample_id == b.sample_id && a.tokens == b.tokens &&
         a.token_offsets == b.token_offsets && a.prompt_len == b.prompt_len &&
         a.explain_mask == b.explain_mask && a.evidence == b.evidence && a.prompt == b.prompt &&
         a.target == b.target && a.explanations == b.explanations;
}

bool operator==(const Failure& a, const Failure& b) {
  return a.model == b.model && a.sample_id == b.sample_id && a.explainer == b.explainer &&
         a.message == b.message;
}

bool operator<(const Failure& a, const Failure& b) {
  if (a.model != b.model) return a.model < b.model;
  if (a.sample_id != b.sample_id) return a.sample_id < b.sample_id;
  if (a.explainer != b.explainer) return a.explainer < b.explainer;
  return a.message < b.message;
}

bool operator==(const MetricInfo& a, const MetricInfo& b) {
  return a.higher_is_better == b.higher_is_better && a.description == b.description;
}

bool operator==(const ExplainerInfo& a, const ExplainerInfo& b) {
  return a.parameters_json == b.parameters_json && a.settings == b.settings &&
         a.metrics == b.metrics;
}

}  // namespace xai
