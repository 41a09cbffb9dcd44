// xai_compare_results A.h5 B.h5 [--tolerance X | --relative X]: exits 0 when two results files
// hold the same models, samples (ids, tokens, offsets), explainers, relevance, per-target scores,
// metrics and extras (float values within X, 0 = bit-identical; with --relative, within X times
// the largest magnitude of A's array, for runs whose sums are ordered differently, such as a model
// split over ranks) and the same failures; else prints each difference, one line, and exits 1.
// CTest uses it to check that 1, 2 and 3 ranks (and resumed runs) agree.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "framework/io/results_reader.h"

namespace {

int g_differences = 0;
bool g_relative = false;  // tolerances scale with each array's largest magnitude

void differ(const std::string& what) {
  if (++g_differences <= 20) std::cerr << "differ: " << what << "\n";
}

template <typename T>
void same_exact(const std::vector<T>& a, const std::vector<T>& b, const std::string& what) {
  if (a != b) differ(what);
}

void same_floats(const std::vector<float>& a, const std::vector<float>& b, double tol,
                 const std::string& what) {
  if (a.size() != b.size())
    return differ(what + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
                  " values");
  if (g_relative) {
    double largest = 0;
    for (float v : a) {
      if (std::isfinite(v)) largest = std::max(largest, std::abs(static_cast<double>(v)));
    }
    tol *= largest;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    if (!both_nan && !(std::abs(static_cast<double>(a[i]) - b[i]) <= tol)) {
      return differ(what + "[" + std::to_string(i) + "]: " + std::to_string(a[i]) + " vs " +
                    std::to_string(b[i]));
    }
  }
}

void same_doubles(const std::vector<double>& a, const std::vector<double>& b, double tol,
                  const std::string& what) {
  std::vector<float> fa(a.begin(), a.end()), fb(b.begin(), b.end());
  same_floats(fa, fb, tol, what);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && !(argc == 5 && (std::string(argv[3]) == "--tolerance" ||
                                   std::string(argv[3]) == "--relative"))) {
    std::cerr << "usage: xai_compare_results A.h5 B.h5 [--tolerance X | --relative X]\n";
    return 2;
  }
  const double tol = argc == 5 ? std::atof(argv[4]) : 0.0;
  g_relative = argc == 5 && std::string(argv[3]) == "--relative";
  try {
    const xai::ResultsReader a(argv[1]), b(argv[2]);
    same_exact(a.models(), b.models(), "models");
    for (const auto& model : a.models()) {
      const xai::SampleTable sa = a.samples(model), sb = b.samples(model);
      same_exact(sa.ids, sb.ids, model + ": sample ids");
      same_exact(sa.tokens.values, sb.tokens.values, model + ": tokens");
      same_exact(sa.token_offsets.values, sb.token_offsets.values, model + ": token offsets");
      same_exact(sa.prompt_len, sb.prompt_len, model + ": prompt_len");
      same_exact(a.explainers(model), b.explainers(model), model + ": explainers");
      for (const auto& ex : a.explainers(model)) {
        const xai::ExplainerTable ta = a.explainer(model, ex), tb = b.explainer(model, ex);
        const std::string what = model + "/" + ex;
        same_exact(ta.sample, tb.sample, what + ": sample rows");
        same_exact(ta.n_targets, tb.n_targets, what + ": n_targets");
        same_floats(ta.relevance.values, tb.relevance.values, tol, what + ": relevance");
        same_floats(ta.per_target.values, tb.per_target.values, tol, what + ": per_target");
        for (const auto& [metric, values] : ta.metrics) {
          auto it = tb.metrics.find(metric);
          if (it == tb.metrics.end()) {
            differ(what + ": metric " + metric + " missing in B");
            continue;
          }
          same_doubles(values, it->second, tol, what + ": metric " + metric);
        }
        if (ta.extras.size() != tb.extras.size()) differ(what + ": different extras");
        for (const auto& [extra, col] : ta.extras) {
          auto it = tb.extras.find(extra);
          if (it == tb.extras.end()) {
            differ(what + ": extra " + extra + " missing in B");
            continue;
          }
          same_exact(col.shape.offsets, it->second.shape.offsets, what + ": extra " + extra);
          same_exact(col.shape.values, it->second.shape.values, what + ": extra " + extra);
          same_floats(col.values.values, it->second.values.values, tol, what + ": extra " + extra);
        }
      }
    }
    std::set<std::tuple<std::string, std::string, std::string>> fa, fb;
    for (const auto& f : a.failures()) fa.insert({f.model, f.sample_id, f.explainer});
    for (const auto& f : b.failures()) fb.insert({f.model, f.sample_id, f.explainer});
    if (fa != fb) differ("failures");
  } catch (const std::exception& e) {
    std::cerr << "xai_compare_results: " << e.what() << "\n";
    return 2;
  }
  if (g_differences > 0) {
    std::cerr << g_differences << " difference(s) between " << argv[1] << " and " << argv[2]
              << "\n";
    return 1;
  }
  std::cout << "same: " << argv[1] << " == " << argv[2] << "\n";
  return 0;
}
