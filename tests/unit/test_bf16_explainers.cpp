// AtMan, Chefer and input x gradient with bfloat16 weights against float32 on the toy models,
// end to end through `xai run`: per sample, the Spearman rank correlation of the two relevance
// maps over the explained tokens, and the summary mAP of each. bfloat16 rounds each weight to 8
// bits of mantissa; an explanation that flips its ranking under that rounding could not be
// trusted in float32 either, so the bars are high. The measured figures are printed (docs/scale.md,
// "Precision").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "framework/io/results_reader.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::TempDir;

std::vector<double> ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < order.size();) {  // ties get their mean rank
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * static_cast<double>(i + j);
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 1.0;
}

TEST(Bfloat16Explainers, RankTheToyTokensAsFloat32DoesAndKeepTheirMap) {
  TempDir f32, bf16;
  const std::vector<std::string> common = {"dataset.limit=40", "runtime.threads=2"};
  auto with = [&](const std::string& out, const std::string& dtype) {
    std::vector<std::string> o = common;
    o.push_back("output=" + out);
    o.push_back("models[0].dtype=" + dtype);
    o.push_back("models[1].dtype=" + dtype);
    return test::run_at_root(std::string(XAI_SOURCE_DIR) +
                                 "/tests/fixtures/experiments/bf16_explainers.yaml",
                             o);
  };
  const RunResult a = with(f32.path(), "float32");
  const RunResult b = with(bf16.path(), "bfloat16");
  ASSERT_EQ(a.failures, 0);
  ASSERT_EQ(b.failures, 0);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  ResultsReader ra(a.results_h5), rb(b.results_h5);
  for (size_t k = 0; k < a.rows.size(); ++k) {
    const std::string& model = a.rows[k].model;
    const std::string& method = a.rows[k].explainer;
    ASSERT_EQ(b.rows[k].model, model);
    ASSERT_EQ(b.rows[k].explainer, method);
    const ExplainerTable x = ra.explainer(model, method), y = rb.explainer(model, method);
    ASSERT_EQ(x.rows(), y.rows());
    ASSERT_EQ(x.rows(), 40u);
    std::vector<double> rho;
    for (size_t j = 0; j < x.rows(); ++j) {
      std::vector<double> u, v;  // the explained positions (NaN elsewhere in both)
      for (int64_t t = 0; t < x.relevance.row_size(j); ++t) {
        const float p = x.relevance.row_data(j)[t], q = y.relevance.row_data(j)[t];
        ASSERT_EQ(std::isnan(p), std::isnan(q)) << model << " " << method;
        if (!std::isnan(p)) {
          u.push_back(p);
          v.push_back(q);
        }
      }
      rho.push_back(spearman(u, v));
    }
    std::sort(rho.begin(), rho.end());
    const double mean = std::accumulate(rho.begin(), rho.end(), 0.0) / rho.size();
    const double map_diff = b.rows[k].map - a.rows[k].map;
    std::printf("  %-10s %-18s Spearman mean %.3f, min %.3f; mAP %.3f (float32) %.3f (bfloat16)\n",
                model.c_str(), method.c_str(), mean, rho.front(), a.rows[k].map, b.rows[k].map);
    EXPECT_GT(mean, 0.85) << model << " " << method;  // measured 0.915 to 0.998
    EXPECT_LT(std::abs(map_diff), 0.03) << model << " " << method;
    // bfloat16 changed the numbers (the weights really were rounded).
    EXPECT_FALSE(std::equal(x.relevance.values.begin(), x.relevance.values.end(),
                            y.relevance.values.begin()))
        << model << " " << method;
  }
}

}  // namespace
}  // namespace xai
