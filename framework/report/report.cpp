// See report.h. The data side: results.json and results.h5 read into the JSON the page embeds.
#include "framework/report/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "framework/common/error.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/statistics.h"
#include "framework/slurm/job_script.h"  // write_text_file: written whole or not at all
#include "framework/text/segments.h"

namespace xai {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

ojson read_json_file(const std::string& path) {
  std::ifstream f(path);
  XAI_CHECK(f.good(), path, ": cannot be read");
  try {
    return ojson::parse(f);
  } catch (const std::exception& e) {
    throw Error(str_cat(path, ": not valid JSON (", e.what(), ")"));
  }
}

// A number for the page: rounded to 4 significant digits (the page shows 3), null when not finite.
ojson num(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (v == 0) return 0.0;
  const double scale = std::pow(10.0, 3 - std::floor(std::log10(std::abs(v))));
  return std::round(v * scale) / scale;
}

// The order metrics are shown in: evidence first, then faithfulness, then the rest by name.
int metric_rank(const std::string& m) {
  static const std::vector<std::string> kOrder = {"ap",
                                                  "ar",
                                                  "token_f1",
                                                  "token_iou",
                                                  "pointing",
                                                  "seg_acc",
                                                  "seg_miou",
                                                  "seg_ap",
                                                  "pos_auc",
                                                  "neg_auc",
                                                  "pos_acc",
                                                  "neg_acc",
                                                  "pos_auc_norm",
                                                  "neg_auc_norm",
                                                  "ins_auc_norm",
                                                  "aopc_morf",
                                                  "aopc_lerf",
                                                  "comprehensiveness",
                                                  "sufficiency",
                                                  "spearman_occlusion",
                                                  "kendall_occlusion"};
  const auto it = std::find(kOrder.begin(), kOrder.end(), m);
  return it == kOrder.end() ? static_cast<int>(kOrder.size())
                            : static_cast<int>(it - kOrder.begin());
}

// The explained positions' values of a relevance row (finite ones only count for correlations).
std::vector<double> explained(const float* r, const std::vector<uint8_t>& mask) {
  std::vector<double> v;
  for (size_t t = 0; t < mask.size(); ++t)
    if (mask[t]) v.push_back(static_cast<double>(r[t]));
  return v;
}

// One model's part of the page: per-sample views, mean curves, the correlation heatmap, and the
// per-sample metric values (for the distributions).
ojson model_data(const ResultsReader& reader, const std::string& model,
                 const std::vector<std::string>& order, const ReportOptions& options,
                 std::map<std::string, MetricInfo>& metrics) {
  const SampleTable st = reader.samples(model);
  // The explainers in the run's order (the summary's), then any others the file holds.
  std::vector<std::string> names;
  const std::vector<std::string> stored = reader.explainers(model);
  for (const auto& e : order)
    if (std::find(stored.begin(), stored.end(), e) != stored.end()) names.push_back(e);
  for (const auto& e : stored)
    if (std::find(names.begin(), names.end(), e) == names.end()) names.push_back(e);
  std::vector<ExplainerTable> tables;
  for (const auto& e : names) tables.push_back(reader.explainer(model, e));
  const size_t N = st.ids.size();
  const size_t shown =
      std::min<size_t>(N, static_cast<size_t>(std::max<int64_t>(0, options.max_samples)));
  // row_of[e][sample row] = the explainer's row, or -1.
  std::vector<std::vector<int64_t>> row_of(tables.size(), std::vector<int64_t>(N, -1));
  for (size_t e = 0; e < tables.size(); ++e) {
    for (const auto& [name, info] : reader.explainer_info(model, names[e]).metrics)
      metrics.emplace(name, info);
    for (size_t j = 0; j < tables[e].rows(); ++j)
      row_of[e][static_cast<size_t>(tables[e].sample[j])] = static_cast<int64_t>(j);
  }
  auto mask_of = [&](size_t i) {
    return std::vector<uint8_t>(st.explain_mask.row_data(i),
                                st.explain_mask.row_data(i) + st.explain_mask.row_size(i));
  };

  ojson out;
  out["name"] = model;
  out["explainers"] = names;
  out["samples_total"] = N;
  out["samples_shown"] = shown;

  // Per-sample views.
  ojson samples = ojson::array();
  for (size_t i = 0; i < shown; ++i) {
    ojson s;
    s["id"] = st.ids[i];
    s["target"] = st.targets[i];
    const int64_t T = st.tokens.row_size(i), P = st.prompt_len[i];
    const std::vector<uint8_t> mask = mask_of(i);
    const std::string& prompt = st.prompts[i];
    const bool image = T > 1 && st.token_offsets.row_size(i) == 2 * T && [&] {
      // An image's tokens have no text: every offset pair is empty.
      for (int64_t t = 0; t < 2 * T; t += 2)
        if (st.token_offsets.row_data(i)[t] != st.token_offsets.row_data(i)[t + 1]) return false;
      return true;
    }();
    const int64_t grid = image ? static_cast<int64_t>(std::lround(std::sqrt(T - 1.0))) : 0;
    s["grid"] = grid * grid == T - 1 ? grid : 0;
    s["prompt_len"] = P;
    ojson tokens = ojson::array();
    for (int64_t t = 0; t < T; ++t) {
      std::string text;
      if (!image && st.token_offsets.row_size(i) == 2 * T) {
        const int64_t b = st.token_offsets.row_data(i)[2 * t],
                      e = st.token_offsets.row_data(i)[2 * t + 1];
        if (b >= 0 && e >= b && e <= static_cast<int64_t>(prompt.size()))
          text = prompt.substr(static_cast<size_t>(b), static_cast<size_t>(e - b));
      }
      tokens.push_back(text);
    }
    s["tokens"] = tokens;
    s["explain"] = mask;
    if (st.evidence.row_size(i) == T) {
      std::vector<int> ev;
      for (int64_t t = 0; t < T; ++t) ev.push_back(st.evidence.row_data(i)[t] > 0 ? 1 : 0);
      s["evidence"] = ev;
    } else {
      s["evidence"] = nullptr;
    }
    ojson rel = ojson::object(), met = ojson::object(), segs = ojson::object();
    for (size_t e = 0; e < tables.size(); ++e) {
      const int64_t j = row_of[e][i];
      if (j < 0) continue;
      const ExplainerTable& x = tables[e];
      if (const auto seg = x.extras.find(kSegmentsExtra);
          seg != x.extras.end() && seg->second.has(static_cast<size_t>(j))) {
        // Segments: each token shows its segment's relevance (scaled by the largest), and the
        // view marks where each segment starts.
        const ExtraArray spans = seg->second.row(static_cast<size_t>(j));
        const ExtraArray sr = x.extras.at(kSegmentRelevanceExtra).row(static_cast<size_t>(j));
        double top = 0;
        for (float v : sr.values)
          if (std::isfinite(v)) top = std::max(top, std::abs(static_cast<double>(v)));
        ojson v = ojson::array(), starts = ojson::array();
        for (int64_t t = 0; t < T; ++t) v.push_back(nullptr);
        for (size_t k = 0; k < sr.values.size() && 4 * k + 1 < spans.values.size(); ++k) {
          const auto first = static_cast<int64_t>(spans.values[4 * k]);
          const auto end = static_cast<int64_t>(spans.values[4 * k + 1]);
          starts.push_back(first);
          for (int64_t t = std::max<int64_t>(first, 0); t < std::min(end, T); ++t)
            v[static_cast<size_t>(t)] =
                top > 0 ? std::round(1000.0 * sr.values[k] / top) / 1000.0 : 0.0;
        }
        rel[names[e]] = v;
        segs[names[e]] = starts;
        ojson m = ojson::object();
        for (const auto& [name, col] : x.metrics)
          if (std::isfinite(col[static_cast<size_t>(j)]))
            m[name] = num(col[static_cast<size_t>(j)]);
        met[names[e]] = m;
        continue;
      }
      const float* r = x.relevance.row_data(static_cast<size_t>(j));
      // Scaled by the largest |relevance| over the explained positions, 3 decimals.
      double top = 0;
      for (int64_t t = 0; t < T; ++t)
        if (mask[static_cast<size_t>(t)] && std::isfinite(r[t]))
          top = std::max(top, std::abs(static_cast<double>(r[t])));
      ojson v = ojson::array();
      for (int64_t t = 0; t < T; ++t) {
        if (!mask[static_cast<size_t>(t)] || !std::isfinite(r[t])) {
          v.push_back(nullptr);
        } else {
          v.push_back(top > 0 ? std::round(1000.0 * r[t] / top) / 1000.0 : 0.0);
        }
      }
      rel[names[e]] = v;
      ojson m = ojson::object();
      for (const auto& [name, col] : x.metrics)
        if (std::isfinite(col[static_cast<size_t>(j)])) m[name] = num(col[static_cast<size_t>(j)]);
      met[names[e]] = m;
    }
    s["relevance"] = rel;
    s["segments"] = segs;
    s["metrics"] = met;
    samples.push_back(s);
  }
  out["samples"] = samples;

  // Every sample's metric values per explainer (the distributions).
  ojson values = ojson::object();
  for (size_t e = 0; e < tables.size(); ++e) {
    ojson per = ojson::object();
    for (const auto& [name, col] : tables[e].metrics) {
      ojson v = ojson::array();
      for (double x : col)
        if (std::isfinite(x)) v.push_back(num(x));
      if (!v.empty()) per[name] = v;
    }
    values[names[e]] = per;
  }
  out["metric_values"] = values;

  // Deletion and insertion curves averaged over the samples (extra "perturbation": rows 0 MoRF,
  // 1 LeRF and 4 insertion probability, `steps` columns).
  ojson curves = ojson::object();
  for (size_t e = 0; e < tables.size(); ++e) {
    const auto it = tables[e].extras.find("perturbation");
    if (it == tables[e].extras.end()) continue;
    std::vector<double> sum;
    int64_t steps = 0, rows = 0, count = 0;
    for (size_t j = 0; j < tables[e].rows(); ++j) {
      if (!it->second.has(j)) continue;
      const ExtraArray a = it->second.row(j);
      if (a.shape.size() != 2) continue;
      if (count == 0) {
        rows = a.shape[0];
        steps = a.shape[1];
        sum.assign(static_cast<size_t>(rows * steps), 0.0);
      }
      if (a.shape[0] != rows || a.shape[1] != steps) continue;
      for (size_t k = 0; k < sum.size(); ++k) sum[k] += a.values[k];
      ++count;
    }
    if (count == 0) continue;
    auto row = [&](int64_t r) {
      ojson v = ojson::array();
      for (int64_t k = 0; k < steps; ++k)
        v.push_back(num(sum[static_cast<size_t>(r * steps + k)] / static_cast<double>(count)));
      return v;
    };
    ojson c;
    ojson fr = ojson::array();
    for (int64_t k = 0; k < steps; ++k)
      fr.push_back(static_cast<double>(k) / static_cast<double>(steps));
    c["fractions"] = fr;
    c["samples"] = count;
    c["morf"] = row(0);
    c["lerf"] = row(1);
    if (rows >= 5) c["insertion"] = row(4);
    curves[names[e]] = c;
  }
  out["curves"] = curves;

  // Rank correlation between the methods: Spearman over each sample's explained positions, the
  // mean over the samples both explained (each explainer's values read once; rho is symmetric, so
  // each pair is computed once).
  std::vector<std::vector<std::vector<double>>> values_at(tables.size());  // [e][sample]
  for (size_t i = 0; i < N; ++i) {
    const std::vector<uint8_t> mask = mask_of(i);
    for (size_t e = 0; e < tables.size(); ++e) {
      const int64_t j = row_of[e][i];
      values_at[e].push_back(
          j < 0 ? std::vector<double>()
                : explained(tables[e].relevance.row_data(static_cast<size_t>(j)), mask));
    }
  }
  std::vector<std::vector<ojson>> cell(tables.size(), std::vector<ojson>(tables.size()));
  for (size_t a = 0; a < tables.size(); ++a) {
    for (size_t b = a; b < tables.size(); ++b) {
      double sum = 0;
      int64_t n = 0;
      for (size_t i = 0; i < N; ++i) {
        if (row_of[a][i] < 0 || row_of[b][i] < 0) continue;
        const double rho = spearman(values_at[a][i], values_at[b][i]);
        if (!std::isfinite(rho)) continue;
        sum += rho;
        ++n;
      }
      cell[a][b] = cell[b][a] = n ? num(sum / static_cast<double>(n)) : ojson(nullptr);
    }
  }
  ojson matrix = ojson::array();
  for (const auto& row : cell) matrix.push_back(row);
  out["correlation"] = matrix;
  return out;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

ojson run_report_data(const std::string& dir, const ReportOptions& options) {
  const std::string json_path = (fs::path(dir) / "results.json").string();
  const std::string h5_path = (fs::path(dir) / "results.h5").string();
  XAI_CHECK(fs::exists(json_path), dir,
            ": no results.json (HINT: give a run's output folder after it finished, or run xai "
            "merge on it first)");
  const ojson results = read_json_file(json_path);
  XAI_CHECK(fs::exists(h5_path), h5_path, ": missing (results.json names it)");
  const ResultsReader reader(h5_path);

  ojson d;
  d["kind"] = "run";
  d["experiment"] = results.value("experiment", std::string("?"));
  d["generated"] = now_utc();
  d["complete"] = results.value("complete", false);
  d["samples"] = results.value("samples", 0);
  d["failures"] = results.value("failures", 0);
  std::map<std::string, MetricInfo> metrics;
  ojson models = ojson::array();
  std::vector<std::string> order;  // the explainers as the summary lists them
  for (const auto& r : results.value("summary", ojson::array())) {
    const std::string e = r.value("explainer", std::string());
    if (std::find(order.begin(), order.end(), e) == order.end()) order.push_back(e);
  }
  for (const auto& m : reader.models())
    models.push_back(model_data(reader, m, order, options, metrics));
  d["models"] = models;
  std::vector<std::string> metric_names;
  for (const auto& [name, info] : metrics) metric_names.push_back(name);
  std::stable_sort(
      metric_names.begin(), metric_names.end(),
      [](const std::string& a, const std::string& b) { return metric_rank(a) < metric_rank(b); });
  ojson defs = ojson::array();
  for (const auto& name : metric_names) {
    defs.push_back({{"name", name},
                    {"higher", metrics[name].higher_is_better},
                    {"description", metrics[name].description}});
  }
  d["metrics"] = defs;
  ojson summary = ojson::array();
  for (const auto& r : results.value("summary", ojson::array())) {
    ojson row;
    for (const char* k : {"model", "explainer", "samples", "failures", "settings",
                          "seconds_per_sample", "peak_mb", "forward_passes", "backward_passes"})
      row[k] = r.contains(k) ? r[k] : ojson(nullptr);
    row["statistics"] = r.value("statistics", ojson::object());
    summary.push_back(row);
  }
  d["summary"] = summary;
  d["statistics"] = results.value("statistics", ojson::object());
  d["comparisons"] = results.value("comparisons", ojson::array());
  d["provenance"] = results.value("provenance", ojson::object());
  d["config"] = results.value("config", ojson::object());
  d["machine"] = results.value("machine", ojson::object());
  return d;
}

std::string write_report(const std::string& dir, const ReportOptions& options) {
  XAI_CHECK(fs::is_directory(dir), dir,
            ": no such folder (HINT: xai report OUT_DIR, a run's or a sweep's output folder)");
  const fs::path manifest = fs::path(dir) / "points.json";
  const std::string out =
      options.output.empty() ? (fs::path(dir) / "report.html").string() : options.output;
  if (!fs::exists(manifest)) {
    write_text_file(out, report_page(run_report_data(dir, options)));
    return out;
  }
  // A sweep: each finished point's page, and the index.
  const ojson points = read_json_file(manifest.string());
  ojson d;
  d["kind"] = "sweep";
  d["experiment"] = points.value("sweep", fs::path(dir).filename().string());
  d["generated"] = now_utc();
  ojson rows = ojson::array();
  for (const auto& p : points.value("points", ojson::array())) {
    ojson row;
    row["id"] = p.value("id", std::string());
    for (const char* k : {"model", "dataset", "explainer"}) row[k] = p.value(k, std::string());
    row["params"] = p.value("params", ojson::object());
    // OUT/points/<id>/ (the manifest's "dir" may be relative to where xai sweep ran).
    const fs::path pdir = fs::path(dir) / "points" / row["id"].get<std::string>();
    const fs::path pjson = pdir / "results.json";
    row["done"] = false;
    if (fs::exists(pjson)) {
      const ojson r = read_json_file(pjson.string());
      row["done"] = r.value("complete", false);
      ReportOptions po = options;
      po.output = (pdir / "report.html").string();
      write_text_file(po.output, report_page(run_report_data(pdir.string(), po)));
      row["page"] = fs::relative(po.output, fs::path(out).parent_path()).generic_string();
      ojson summary = ojson::array();
      for (const auto& s : r.value("summary", ojson::array())) {
        summary.push_back(
            {{"model", s.value("model", "")},
             {"explainer", s.value("explainer", "")},
             {"samples", s.value("samples", 0)},
             {"statistics", s.value("statistics", ojson::object())},
             {"seconds_per_sample",
              s.contains("seconds_per_sample") ? s["seconds_per_sample"] : ojson(nullptr)}});
      }
      row["summary"] = summary;
    }
    rows.push_back(row);
  }
  d["points"] = rows;
  write_text_file(out, report_page(d));
  return out;
}

}  // namespace xai
