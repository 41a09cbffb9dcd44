// xai report's data (framework/report/report.h) against the run it reads: every sample's tokens
// rebuild its prompt, the relevance shown is the stored relevance scaled by its largest |value|,
// the mean curves are the stored curves averaged by hand, the correlation heatmap is Spearman's
// rho from a rank computation of its own; the page embeds the data so that no text in it can end
// the script element; a sweep folder gets one page per finished point and an index; a folder
// with no results is a one-line error naming it. (The page's script runs in a real browser in
// the report.browser test.)
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "framework/common/error.h"
#include "framework/io/results_reader.h"
#include "framework/report/report.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using test::TempDir;

// Ranks 1..n (no ties: the test's relevance values are distinct floats), Pearson of the ranks.
double spearman_by_ranks(const std::vector<double>& a, const std::vector<double>& b) {
  auto ranks = [](const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
    std::vector<double> r(v.size());
    for (size_t k = 0; k < idx.size(); ++k) r[idx[k]] = static_cast<double>(k + 1);
    return r;
  };
  const auto ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), m = (n + 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - m) * (rb[i] - m);
    saa += (ra[i] - m) * (ra[i] - m);
    sbb += (rb[i] - m) * (rb[i] - m);
  }
  return sab / std::sqrt(saa * sbb);
}

// One small run (3 toy questions; saliency, occlusion, random and input x gradient at sentence
// granularity; the faithfulness curves), made
// once for every test here.
const std::string& run_dir() {
  static TempDir dir;
  static const std::string out = [] {
    const std::string yaml = dir.path() + "/exp.yaml";
    std::ofstream(yaml) << "name: report_test\n"
                           "models: [{name: toy_gpt2, path: datasets/toy/models/toy_gpt2}]\n"
                           "dataset: {type: toy, path: datasets/toy/data/test.json, limit: 3}\n"
                           "explainers: [{name: saliency}, {name: occlusion}, {name: random},\n"
                           "  {name: ixg_s, method: input_x_gradient, granularity: sentence}]\n"
                           "metrics: {perturbation: {steps: 4, eraser: [10, 50]}}\n"
                           "runtime: {threads: 1, progress: off}\n";
    const RunResult r = test::run_at_root(yaml, {"output=" + dir.path() + "/run"});
    EXPECT_EQ(r.failures, 0);
    return dir.path() + "/run";
  }();
  return out;
}

TEST(Report, DataIsTheRunsOwn) {
  const ojson d = run_report_data(run_dir(), {});
  const ResultsReader reader(run_dir() + "/results.h5");
  ASSERT_EQ(d["kind"], "run");
  EXPECT_EQ(d["experiment"], "report_test");
  ASSERT_EQ(d["models"].size(), 1u);
  const ojson& m = d["models"][0];
  EXPECT_EQ(m["explainers"], ojson::parse(R"(["saliency", "occlusion", "random", "ixg_s"])"));
  const SampleTable st = reader.samples("toy_gpt2");
  ASSERT_EQ(m["samples"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const ojson& s = m["samples"][i];
    EXPECT_EQ(s["id"], st.ids[i]);
    EXPECT_EQ(s["target"], st.targets[i]);
    // The tokens' texts, in order, are the prompt.
    std::string joined;
    for (int64_t t = 0; t < s["prompt_len"].get<int64_t>(); ++t)
      joined += s["tokens"][t].get<std::string>();
    EXPECT_EQ(joined, st.prompts[i]);
    // The relevance shown: the stored row over its largest |value| on the explained positions.
    const ExplainerTable x = reader.explainer("toy_gpt2", "saliency");
    const float* r = x.relevance.row_data(i);
    double top = 0;
    for (int64_t t = 0; t < st.explain_mask.row_size(i); ++t)
      if (st.explain_mask.row_data(i)[t]) top = std::max(top, std::abs(static_cast<double>(r[t])));
    for (int64_t t = 0; t < st.explain_mask.row_size(i); ++t) {
      const ojson& v = s["relevance"]["saliency"][t];
      if (!st.explain_mask.row_data(i)[t]) {
        EXPECT_TRUE(v.is_null());
      } else {
        EXPECT_NEAR(v.get<double>(), r[t] / top, 6e-4) << "sample " << i << " token " << t;
      }
    }
    EXPECT_NEAR(s["metrics"]["saliency"]["ap"].get<double>(), x.metrics.at("ap")[i],
                1e-3 * std::abs(x.metrics.at("ap")[i]) + 1e-9);
    // Sentences: each token shows its segment's relevance over the largest segment's; the view
    // marks each segment's first token.
    const ExplainerTable g = reader.explainer("toy_gpt2", "ixg_s");
    const ExtraArray spans = g.extras.at("segments").row(i);
    const ExtraArray rel = g.extras.at("segment_relevance").row(i);
    ASSERT_GE(rel.values.size(), 4u);
    double most = 0;
    for (float v : rel.values) most = std::max(most, std::abs(static_cast<double>(v)));
    EXPECT_EQ(s["segments"]["ixg_s"].size(), rel.values.size());
    EXPECT_FALSE(s["segments"].contains("saliency"));
    for (size_t k = 0; k < rel.values.size(); ++k) {
      const auto first = static_cast<int64_t>(spans.values[4 * k]);
      EXPECT_EQ(s["segments"]["ixg_s"][k].get<int64_t>(), first);
      for (auto t = first; t < static_cast<int64_t>(spans.values[4 * k + 1]); ++t) {
        EXPECT_NEAR(s["relevance"]["ixg_s"][static_cast<size_t>(t)].get<double>(),
                    rel.values[k] / most, 6e-4);
      }
    }
  }
  // Mean curves: the stored per-sample curves (MoRF row 0, LeRF 1, insertion 4) averaged.
  for (const char* e : {"saliency", "occlusion"}) {
    const ExplainerTable x = reader.explainer("toy_gpt2", e);
    const ExtraColumn& c = x.extras.at("perturbation");
    for (const auto& [key, row] :
         {std::pair<const char*, int>{"morf", 0}, {"lerf", 1}, {"insertion", 4}}) {
      for (int k = 0; k < 4; ++k) {
        double sum = 0;
        for (size_t j = 0; j < x.rows(); ++j)
          sum += c.row(j).values[static_cast<size_t>(row * 4 + k)];
        EXPECT_NEAR(m["curves"][e][key][k].get<double>(), sum / 3, 1e-3 * std::abs(sum / 3) + 1e-9)
            << e << " " << key << " step " << k;
      }
    }
  }
  // The heatmap: symmetric, 1 on the diagonal, and saliency vs random as ranks give it.
  const ojson& c = m["correlation"];
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(c[a][a].get<double>(), 1.0, 1e-9);
    for (int b = 0; b < 3; ++b) EXPECT_EQ(c[a][b], c[b][a]);
  }
  const ExplainerTable sal = reader.explainer("toy_gpt2", "saliency"),
                       rnd = reader.explainer("toy_gpt2", "random");
  double mean = 0;
  for (size_t i = 0; i < 3; ++i) {
    std::vector<double> a, b;
    for (int64_t t = 0; t < st.explain_mask.row_size(i); ++t) {
      if (!st.explain_mask.row_data(i)[t]) continue;
      a.push_back(sal.relevance.row_data(i)[t]);
      b.push_back(rnd.relevance.row_data(i)[t]);
    }
    mean += spearman_by_ranks(a, b) / 3;
  }
  EXPECT_NEAR(c[0][2].get<double>(), mean, 1e-3 * std::abs(mean) + 1e-4);
  // Every metric the rows hold is declared, with its direction; the summary is results.json's.
  bool aopc = false;
  for (const auto& def : d["metrics"])
    aopc = aopc || (def["name"] == "aopc_morf" && def["higher"] == true);
  EXPECT_TRUE(aopc);
  std::ifstream f(run_dir() + "/results.json");
  const ojson results = ojson::parse(f);
  ASSERT_EQ(d["summary"].size(), results["summary"].size());
  EXPECT_EQ(d["summary"][1]["statistics"], results["summary"][1]["statistics"]);
  // --samples caps the per-sample views, not the tables.
  ReportOptions two;
  two.max_samples = 2;
  const ojson d2 = run_report_data(run_dir(), two);
  EXPECT_EQ(d2["models"][0]["samples"].size(), 2u);
  EXPECT_EQ(d2["models"][0]["samples_total"], 3);
  EXPECT_EQ(d2["models"][0]["metric_values"]["saliency"]["ap"].size(), 3u);
}

TEST(Report, PageEmbedsAnyTextSafely) {
  ojson d;
  d["kind"] = "run";
  d["prompt"] = "a </script><script>alert(1)</script> b \xff";  // and a byte that is not UTF-8
  const std::string page = report_page(d);
  // Exactly the page's own two script elements end.
  size_t ends = 0;
  for (size_t at = page.find("</script>"); at != std::string::npos;
       at = page.find("</script>", at + 1))
    ++ends;
  EXPECT_EQ(ends, 2u);
  const std::string open = "<script type=\"application/json\" id=\"xai-data\">";
  const size_t b = page.find(open) + open.size(), e = page.find("</script>", b);
  const ojson back = ojson::parse(page.substr(b, e - b));
  EXPECT_EQ(back["prompt"].get<std::string>().substr(0, 36),
            "a </script><script>alert(1)</script>");
  EXPECT_EQ(page.find("http://"), page.find("http://www.w3.org/2000/svg"));  // no network
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

TEST(Report, SweepGetsAPagePerPointAndAnIndex) {
  TempDir sweep;
  const fs::path points = fs::path(sweep.path()) / "points";
  fs::create_directories(points / "p-done");
  fs::create_directories(points / "p-todo");
  for (const char* f : {"results.json", "results.h5"})
    fs::copy_file(fs::path(run_dir()) / f, points / "p-done" / f);
  std::ofstream(sweep.path() + "/points.json") << R"({"sweep": "toy", "points": [
           {"index": 0, "id": "p-done", "dir": "elsewhere/p-done", "model": "toy_gpt2",
            "dataset": "toy3", "explainer": "saliency", "params": {"explainers[0].x": "1"}},
           {"index": 1, "id": "p-todo", "dir": "elsewhere/p-todo", "model": "toy_gpt2",
            "dataset": "toy3", "explainer": "atman", "params": {"explainers[0].x": "2"}}]})";
  const std::string page = write_report(sweep.path());
  EXPECT_EQ(page, sweep.path() + "/report.html");
  EXPECT_TRUE(fs::exists(points / "p-done" / "report.html"));
  EXPECT_FALSE(fs::exists(points / "p-todo" / "report.html"));
  std::ifstream f(page);
  const std::string html((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("\"kind\":\"sweep\""), std::string::npos);
  EXPECT_NE(html.find("\"page\":\"points/p-done/report.html\""), std::string::npos);
  EXPECT_NE(html.find("\"explainers[0].x\":\"2\""), std::string::npos);
}

TEST(Report, AFolderWithoutResultsIsAOneLineError) {
  TempDir empty;
  try {
    write_report(empty.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(empty.path() + ": no results.json"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_THROW(write_report(empty.path() + "/nope"), Error);
}

}  // namespace
}  // namespace xai
