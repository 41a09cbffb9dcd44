// The run's summary: one row per (model, explainer) from the merged results, as a text table and
// in results.json.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "framework/common/error.h"
#include "framework/eval/perturbation.h"
#include "framework/io/fs_util.h"
#include "framework/io/merge.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/metrics.h"
#include "framework/metrics/segmentation.h"
#include "framework/run/comparisons.h"
#include "framework/run/experiment.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

// The rows, and into `comparisons` every pair of each model's explainers compared per metric
// (from the same tables: each is read once).
std::vector<SummaryRow> summarize(const ResultsReader& reader,
                                  const std::vector<std::string>& model_names,
                                  const std::vector<std::string>& explainer_names, double iq_lo,
                                  double iq_hi, nlohmann::ordered_json& comparisons) {
  const auto failures = reader.failures();
  const auto models = reader.models();
  std::vector<SummaryRow> rows;
  for (const auto& model : model_names) {
    const bool have_model = std::find(models.begin(), models.end(), model) != models.end();
    const auto ex = have_model ? reader.explainers(model) : std::vector<std::string>{};
    std::vector<ExplainerMetrics> per_sample;  // this model's explainers, for the comparisons
    for (const auto& explainer : explainer_names) {
      SummaryRow r;
      r.model = model;
      r.explainer = explainer;
      for (const auto& f : failures) {
        if (f.model == model && (f.explainer == explainer || f.explainer.empty())) ++r.failures;
      }
      if (std::find(ex.begin(), ex.end(), explainer) == ex.end()) {
        r.map = r.map_iq = r.mar = r.mar_iq = NAN;
        if (have_model) {
          // Failed everywhere: the settings are still the explainer's (from any model that has it).
          for (const auto& m : models) {
            const auto e2 = reader.explainers(m);
            if (std::find(e2.begin(), e2.end(), explainer) == e2.end()) continue;
            r.settings = reader.explainer_info(m, explainer).settings;
            break;
          }
        }
        rows.push_back(r);
        continue;
      }
      const ExplainerTable t = reader.explainer(model, explainer);
      r.settings = reader.explainer_info(model, explainer).settings;
      r.samples = static_cast<int64_t>(t.rows());
      auto col = [&](const std::map<std::string, std::vector<double>>& cols, const char* k) {
        auto it = cols.find(k);
        return it == cols.end() ? std::vector<double>() : it->second;
      };
      for (const auto& [name, values] : t.metrics) {
        r.statistics[name] = metric_statistics(values, iq_lo, iq_hi);
      }
      per_sample.push_back({explainer, t.sample, t.metrics});
      const auto ap = col(t.metrics, "ap"), ar = col(t.metrics, "ar");
      r.map = mean(ap);
      r.mar = mean(ar);
      r.map_iq = interquartile_mean(ap, iq_lo, iq_hi);
      r.mar_iq = interquartile_mean(ar, iq_lo, iq_hi);
      if (t.metrics.count("seg_acc")) {
        r.seg_acc = r.seg_acc_mean = mean(col(t.metrics, "seg_acc"));
        r.seg_miou = r.seg_miou_mean = mean(col(t.metrics, "seg_miou"));
        r.seg_ap = mean(col(t.metrics, "seg_ap"));
        // Chefer's dataset figures: the images' pixel counts pooled (rows written before the
        // counts were stored keep the per-image means).
        const auto counts = t.extras.find(kSegmentationCounts);
        if (counts != t.extras.end()) {
          std::vector<SegmentationCounts> images;
          for (size_t j = 0; j < t.rows(); ++j) {
            if (counts->second.has(j)) {
              images.push_back(SegmentationCounts::from_extra(counts->second.row(j).values));
            }
          }
          if (!images.empty()) std::tie(r.seg_acc, r.seg_miou) = pooled_segmentation(images);
        }
      }
      if (t.metrics.count("pos_auc")) {
        r.pos_auc = mean(col(t.metrics, "pos_auc"));
        r.neg_auc = mean(col(t.metrics, "neg_auc"));
        r.pos_acc = mean(col(t.metrics, "pos_acc"));
        r.neg_acc = mean(col(t.metrics, "neg_acc"));
      }
      r.seconds_per_sample = mean(col(t.cost, "seconds"));
      r.forward_passes = mean(col(t.cost, "forward_passes"));
      r.backward_passes = mean(col(t.cost, "backward_passes"));
      for (double b : col(t.cost, "peak_bytes")) {
        if (!std::isnan(b)) r.peak_mb = std::max(r.peak_mb, b / 1e6);
      }
      if (auto it = t.extras.find("convergence_delta"); it != t.extras.end()) {
        std::vector<double> abs_delta;
        for (float d : it->second.values.values) abs_delta.push_back(std::abs(d));
        r.mean_abs_convergence_delta = mean(abs_delta);
      }
      if (auto it = t.extras.find("convergence_flag"); it != t.extras.end()) {
        r.convergence_flagged = 0;
        for (float f : it->second.values.values) r.convergence_flagged += f != 0 ? 1 : 0;
      }
      rows.push_back(r);
    }
    compare_explainers(model, per_sample, comparisons);
  }
  return rows;
}

double statistic_mean(const SummaryRow& r, const char* metric) {
  const auto it = r.statistics.find(metric);
  return it == r.statistics.end() || it->second.n == 0 ? NAN : it->second.mean;
}

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string format_summary(const std::vector<SummaryRow>& rows) {
  auto num = [](double v, int digits) {
    if (!std::isfinite(v)) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
    return std::string(buf);
  };
  // The perturbation test's columns (Chefer's accuracy AUCs, %) only when it ran.
  bool perturbation = false, segmentation = false;
  for (const auto& r : rows) {
    perturbation = perturbation || std::isfinite(r.pos_acc);
    segmentation = segmentation || std::isfinite(r.seg_miou);
  }
  std::vector<std::vector<std::string>> cells = {{"method", "model", "mAP", "mAP_CI95", "mAP_IQ",
                                                  "mAR", "mAR_IQ", "s/sample", "peak MB", "fwd",
                                                  "bwd", "samples", "failed", "settings"}};
  // Optional columns go after mAR_IQ, segmentation then perturbation.
  if (perturbation) {
    cells[0].insert(cells[0].begin() + 7, {"pos_acc", "neg_acc", "AOPC", "comp", "suff"});
  }
  if (segmentation) cells[0].insert(cells[0].begin() + 7, {"seg_acc", "seg_mIoU", "seg_AP"});
  for (const auto& r : rows) {
    // mAP's bootstrap 95% interval, "lo-hi" in %.
    std::string ci = "-";
    if (const auto it = r.statistics.find("ap");
        it != r.statistics.end() && std::isfinite(it->second.ci_lo)) {
      ci = num(100 * it->second.ci_lo, 1) + "-" + num(100 * it->second.ci_hi, 1);
    }
    cells.push_back({r.explainer, r.model, num(100 * r.map, 1), ci, num(100 * r.map_iq, 1),
                     num(100 * r.mar, 1), num(100 * r.mar_iq, 1), num(r.seconds_per_sample, 3),
                     num(r.peak_mb, 1), num(r.forward_passes, 1), num(r.backward_passes, 1),
                     std::to_string(r.samples), std::to_string(r.failures), r.settings});
    if (perturbation) {
      cells.back().insert(
          cells.back().begin() + 7,
          {num(100 * r.pos_acc, 1), num(100 * r.neg_acc, 1), num(statistic_mean(r, "aopc_morf"), 2),
           num(100 * statistic_mean(r, "comprehensiveness"), 1),
           num(100 * statistic_mean(r, "sufficiency"), 1)});
    }
    if (segmentation) {
      cells.back().insert(
          cells.back().begin() + 7,
          {num(100 * r.seg_acc, 1), num(100 * r.seg_miou, 1), num(100 * r.seg_ap, 1)});
    }
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    for (size_t c = 0; c < cells[i].size(); ++c) {
      const std::string& s = cells[i][c];
      if (c + 1 == cells[i].size()) {  // the last column, left-aligned: no trailing pad
        if (!s.empty()) out += "  " + s;
        continue;
      }
      const std::string pad(width[c] - s.size(), ' ');
      out += (c ? "  " : "") + (c < 2 ? s + pad : pad + s);
    }
    out += "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  out += perturbation ? "higher is better: mAP, mAR, neg_acc, AOPC (MoRF, nats), comp (%); lower: "
                        "pos_acc, suff (%)\n"
                      : "higher is better: mAP, mAR\n";
  for (const auto& r : rows) {
    if (r.convergence_flagged > 0) {
      out += str_cat(r.explainer, " on ", r.model, ": ", r.convergence_flagged, " of ", r.samples,
                     " samples flagged, their |convergence delta| is over delta_tolerance of "
                     "|f(x) - f(baseline)| (extras convergence_flag; HINT: more steps, or "
                     "baseline: token on RMSNorm models)\n");
    }
  }
  return out;
}

MergedRun merge_run(const std::string& out_dir,
                    const std::map<std::string, std::string>& provenance,
                    std::optional<bool> complete, const std::vector<SampleKey>* planned) {
  MergeOptions mo;
  mo.provenance = provenance;
  const MergeSummary merged = merge_shards(out_dir, mo);
  MergedRun out;
  out.results_h5 = merged.output;
  out.samples = merged.samples;
  out.failures = merged.failures;
  out.duplicates = merged.duplicates;
  out.conflicts = merged.conflicts;

  const ResultsReader reader(merged.output);
  const auto prov = reader.provenance();
  if (planned != nullptr) {
    std::set<SampleKey> present;
    for (const auto& m : reader.models()) {
      for (auto& id : reader.sample_ids(m)) present.insert({m, std::move(id)});
    }
    for (const auto& f : reader.failures()) {
      if (f.explainer.empty()) present.insert({f.model, f.sample_id});
    }
    out.planned = static_cast<int64_t>(planned->size());
    for (const SampleKey& k : *planned) {
      if (present.count(k)) continue;
      if (out.missing++ == 0) out.missing_example = k.model + "/" + k.sample_id;
    }
    if (out.missing > 0) complete = false;
  }
  // The resolved config (written by every run into its shards) gives the summary's order and band.
  nlohmann::ordered_json config;
  if (auto it = prov.find("config_json"); it != prov.end() && !it->second.empty()) {
    config = nlohmann::ordered_json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  }
  std::vector<std::string> models, explainers;
  double iq_lo = 25, iq_hi = 75;
  if (config.is_object() && config.contains("models") && config.contains("explainers")) {
    for (const auto& m : config["models"]) models.push_back(m.value("name", ""));
    for (const auto& e : config["explainers"]) explainers.push_back(e.value("name", ""));
    if (config.contains("metrics") && config["metrics"].contains("iq_band") &&
        config["metrics"]["iq_band"].size() == 2) {
      iq_lo = config["metrics"]["iq_band"][0].get<double>();
      iq_hi = config["metrics"]["iq_band"][1].get<double>();
    }
  } else {  // shards of an older run: what the file holds, sorted
    models = reader.models();
    std::set<std::string> names;
    for (const auto& m : models)
      for (const auto& e : reader.explainers(m)) names.insert(e);
    explainers.assign(names.begin(), names.end());
  }
  nlohmann::ordered_json comparisons = nlohmann::ordered_json::array();
  out.rows = summarize(reader, models, explainers, iq_lo, iq_hi, comparisons);

  nlohmann::ordered_json j;
  j["experiment"] = prov.count("experiment") ? prov.at("experiment") : "";
  j["schema_version"] = kResultsSchemaVersion;
  j["results_h5"] = merged.output;
  j["complete"] = complete ? nlohmann::ordered_json(*complete) : nlohmann::ordered_json(nullptr);
  if (planned != nullptr) {
    j["planned"] = out.planned;
    j["missing"] = out.missing;
  }
  j["samples"] = merged.samples;
  j["failures"] = merged.failures;
  j["config"] = config.is_object() ? config : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json pj;
  for (const auto& [k, v] : prov) {
    if (k == "machine") {  // JSON itself: the CPU, its ceiling, the kernels chosen
      j["machine"] = nlohmann::ordered_json::parse(v, nullptr, /*allow_exceptions=*/false);
    } else if (k != "config" && k != "config_json") {
      pj[k] = v;
    }
  }
  j["provenance"] = pj;
  for (const auto& r : out.rows) {
    nlohmann::ordered_json row = {{"model", r.model},
                                  {"explainer", r.explainer},
                                  {"samples", r.samples},
                                  {"failures", r.failures},
                                  {"mAP", number_or_null(r.map)},
                                  {"mAP_IQ", number_or_null(r.map_iq)},
                                  {"mAR", number_or_null(r.mar)},
                                  {"mAR_IQ", number_or_null(r.mar_iq)},
                                  {"iq_band", {iq_lo, iq_hi}},
                                  {"seconds_per_sample", number_or_null(r.seconds_per_sample)},
                                  {"peak_mb", r.peak_mb},
                                  {"forward_passes", number_or_null(r.forward_passes)},
                                  {"backward_passes", number_or_null(r.backward_passes)}};
    if (!std::isnan(r.mean_abs_convergence_delta)) {
      row["mean_abs_convergence_delta"] = number_or_null(r.mean_abs_convergence_delta);
    }
    if (r.convergence_flagged >= 0) row["convergence_flagged"] = r.convergence_flagged;
    if (!std::isnan(r.seg_miou)) {
      row["segmentation"] = {{"seg_acc", number_or_null(r.seg_acc)},
                             {"seg_miou", number_or_null(r.seg_miou)},
                             {"seg_ap", number_or_null(r.seg_ap)},
                             {"seg_acc_mean", number_or_null(r.seg_acc_mean)},
                             {"seg_miou_mean", number_or_null(r.seg_miou_mean)}};
    }
    if (!std::isnan(r.pos_auc)) {
      row["perturbation"] = {{"pos_auc", number_or_null(r.pos_auc)},
                             {"neg_auc", number_or_null(r.neg_auc)},
                             {"pos_acc", number_or_null(r.pos_acc)},
                             {"neg_acc", number_or_null(r.neg_acc)}};
      for (const MetricDef& m : perturbation_metrics()) {  // the others, from their statistics
        if (!row["perturbation"].contains(m.name) && r.statistics.count(m.name))
          row["perturbation"][m.name] = number_or_null(statistic_mean(r, m.name));
      }
    }
    nlohmann::ordered_json stats = nlohmann::ordered_json::object();
    for (const auto& [name, s] : r.statistics) {
      if (s.n == 0) continue;  // a metric no sample of this row has (occlusion's own correlation)
      stats[name] = {{"n", s.n},
                     {"mean", number_or_null(s.mean)},
                     {"iq_mean", number_or_null(s.iq_mean)},
                     {"std", number_or_null(s.std)},
                     {"ci95", {number_or_null(s.ci_lo), number_or_null(s.ci_hi)}}};
    }
    row["statistics"] = stats;
    row["settings"] = r.settings;
    j["summary"].push_back(row);
  }
  // How the intervals were drawn, and every pair of explainers tested on their common samples.
  const BootstrapSettings bootstrap;
  j["statistics"] = {{"ci", "bootstrap percentile interval of the mean, 95%"},
                     {"resamples", bootstrap.resamples},
                     {"seed", bootstrap.seed},
                     {"paired_test",
                      "Wilcoxon signed-rank, two-sided, normal approximation with "
                      "the tie correction; effect size: matched-pairs "
                      "rank-biserial correlation"}};
  j["comparisons"] = std::move(comparisons);
  out.results_json = (fs::path(out_dir) / "results.json").string();
  {
    std::ofstream f(out.results_json + ".tmp");
    f << j.dump(2) << "\n";
    f.close();
    if (!f.good()) {
      std::error_code ec;
      fs::remove(out.results_json + ".tmp", ec);
      const std::string full = fsutil::no_space_note(out_dir);
      throw Error(
          str_cat(out.results_json, ": write failed", full.empty() ? std::string() : ": " + full,
                  "; results.h5 is complete. HINT: free space, then run xai merge ", out_dir));
    }
    fs::rename(out.results_json + ".tmp", out.results_json);
  }
  return out;
}

}  // namespace xai
