#include "framework/run/experiment.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "datasets/dataset.h"
#include "framework/common/build_info.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/io/journal.h"
#include "framework/io/merge.h"
#include "framework/io/results_reader.h"
#include "framework/io/shard_writer.h"
#include "framework/metrics/metrics.h"
#include "framework/model/model.h"
#include "framework/run/memory_meter.h"
#include "framework/run/progress.h"
#include "framework/text/encoded.h"
#include "methods/explainer.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

// Set by SIGINT/SIGTERM (Ctrl-C, Slurm's time limit): the run stops after the current sample,
// flushes what it has and merges, so `--resume` continues where it stopped.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

struct ModelEntry {
  std::string name, path;
};

struct ExplainerEntry {
  std::string name, method;
  std::unique_ptr<Explainer> impl;
};

struct Plan {
  std::string config_path, name, out_dir;
  std::vector<ModelEntry> models;
  std::unique_ptr<Dataset> dataset;
  std::vector<ExplainerEntry> explainers;
  double iq_lo = 25, iq_hi = 75;
  std::string device = "cpu";
  int64_t threads = 0;
  int64_t flush_every = 20;
  double flush_seconds = 60;
  Progress::Mode progress = Progress::Mode::kAuto;
  std::string resolved_yaml, resolved_json;
};

Plan read_plan(const std::string& path, const RunOptions& options) {
  Config cfg = Config::load(path, options.overrides);
  ConfigNode root = cfg.root();
  Plan p;
  p.config_path = path;
  p.name = root.get_string("name", fs::path(path).stem().string());
  p.out_dir = root.get_string("output", "out/" + p.name);

  std::set<std::string> names;
  for (const ConfigNode& m : root.children("models")) {
    ModelEntry e;
    e.path = m.require_string("path");
    e.name = m.get_string("name", fs::path(e.path).filename().string());
    validate_name(e.name, str_cat(path, ": ", m.path(), ".name"));
    XAI_CHECK(names.insert(e.name).second, path, ": ", m.path(), ": model name '", e.name,
              "' is used twice");
    XAI_CHECK(fs::is_directory(e.path), path, ": ", m.path(), ".path: '", e.path,
              "' is not a folder (paths are relative to the working directory)");
    m.finish();
    p.models.push_back(e);
  }
  XAI_CHECK(!p.models.empty(), path, ": models: at least one model is required, e.g.\n",
            "models:\n  - {name: toy_gpt2, path: datasets/toy/models/toy_gpt2}");

  const ConfigNode dataset = root.child("dataset");
  p.dataset = open_dataset(dataset);
  dataset.finish();

  names.clear();
  for (const ConfigNode& e : root.children("explainers")) {
    ExplainerEntry x;
    x.method = e.get_string("method", "");
    x.name = e.get_string("name", x.method);
    if (x.method.empty()) x.method = x.name;
    XAI_CHECK(!x.name.empty(), path, ": ", e.path(), ": give the explainer a name or a method");
    validate_name(x.name, str_cat(path, ": ", e.path(), ".name"));
    XAI_CHECK(names.insert(x.name).second, path, ": ", e.path(), ": explainer name '", x.name,
              "' is used twice (give each configuration its own name)");
    x.impl = make_explainer(x.method, e);
    p.explainers.push_back(std::move(x));
  }
  XAI_CHECK(!p.explainers.empty(), path, ": explainers: at least one explainer is required");

  const ConfigNode metrics = root.child("metrics");
  const auto band = metrics.get_double_list("iq_band", {25, 75});
  XAI_CHECK(band.size() == 2 && band[0] >= 0 && band[0] < band[1] && band[1] <= 100, path,
            ": metrics.iq_band must be two percentiles [lo, hi] with 0 <= lo < hi <= 100");
  p.iq_lo = band[0];
  p.iq_hi = band[1];
  metrics.finish();

  const ConfigNode rt = root.child("runtime");
  p.device = rt.get_string("device", "cpu");
  p.threads = rt.get_int("threads", 0);
  p.flush_every = rt.get_int("flush_every", 20);
  p.flush_seconds = rt.get_double("flush_seconds", 60);
  p.progress =
      Progress::parse_mode(rt.get_choice("progress", "auto", {"auto", "bar", "lines", "off"}));
  XAI_CHECK(p.threads >= 0, path, ": runtime.threads must be >= 0 (0 = LibTorch's default)");
  XAI_CHECK(p.flush_every > 0, path, ": runtime.flush_every must be positive");
  rt.finish();

  root.finish();
  cfg.finish_all();
  p.resolved_yaml = cfg.resolved_yaml();
  p.resolved_json = cfg.resolved_json();
  return p;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::map<std::string, std::string> provenance(const Plan& p) {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::map<std::string, std::string> out = {
      {"experiment", p.name},
      {"config_path", p.config_path},
      {"config", p.resolved_yaml},
      {"git_commit", build_git_commit()},
      {"xai_version", build_xai_version()},
      {"libtorch_version", build_torch_version()},
      {"hostname", host},
      {"world_size", "1"},
      {"device", p.device},
      {"threads", std::to_string(at::get_num_threads())},
      {"finished_at", utc_now()},
  };
  for (const char* var : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"}) {
    if (const char* v = std::getenv(var)) out[var] = v;
  }
  return out;
}

std::vector<float> to_vector(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// AP and AR of one explanation over the explained positions; empty when there is no evidence.
std::map<std::string, double> sample_metrics_of(const std::vector<float>& relevance,
                                                const Encoded& enc) {
  if (enc.evidence_mask.empty()) return {};
  std::vector<double> x, y;
  for (int64_t i = 0; i < enc.size(); ++i) {
    if (!enc.explain_mask[i]) continue;
    x.push_back(std::abs(static_cast<double>(relevance[i])));
    y.push_back(enc.evidence_mask[i]);
  }
  return {{"ap", average_precision(x, y)}, {"ar", average_recall(x, y)}};
}

std::vector<SummaryRow> summarize(const std::string& results_h5, const Plan& plan) {
  ResultsReader reader(results_h5);
  const auto failures = reader.failures();
  std::vector<SummaryRow> rows;
  for (const auto& m : plan.models) {
    for (const auto& e : plan.explainers) {
      SummaryRow r;
      r.model = m.name;
      r.explainer = e.name;
      for (const auto& f : failures) {
        if (f.model == m.name && (f.explainer == e.name || f.explainer.empty())) ++r.failures;
      }
      const auto models = reader.models();
      const bool have = std::find(models.begin(), models.end(), m.name) != models.end() && [&] {
        const auto ex = reader.explainers(m.name);
        return std::find(ex.begin(), ex.end(), e.name) != ex.end();
      }();
      if (!have) {
        r.map = r.map_iq = r.mar = r.mar_iq = NAN;
        rows.push_back(r);
        continue;
      }
      const ExplainerTable t = reader.explainer(m.name, e.name);
      r.samples = static_cast<int64_t>(t.rows());
      auto col = [&](const std::map<std::string, std::vector<double>>& cols, const char* k) {
        auto it = cols.find(k);
        return it == cols.end() ? std::vector<double>() : it->second;
      };
      const auto ap = col(t.metrics, "ap"), ar = col(t.metrics, "ar");
      r.map = mean(ap);
      r.mar = mean(ar);
      r.map_iq = interquartile_mean(ap, plan.iq_lo, plan.iq_hi);
      r.mar_iq = interquartile_mean(ar, plan.iq_lo, plan.iq_hi);
      r.seconds_per_sample = mean(col(t.cost, "seconds"));
      r.forward_passes = mean(col(t.cost, "forward_passes"));
      r.backward_passes = mean(col(t.cost, "backward_passes"));
      for (double b : col(t.cost, "peak_bytes")) {
        if (!std::isnan(b)) r.peak_mb = std::max(r.peak_mb, b / 1e6);
      }
      rows.push_back(r);
    }
  }
  return rows;
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
  std::vector<std::vector<std::string>> cells = {{"method", "model", "mAP", "mAP_IQ", "mAR",
                                                  "mAR_IQ", "s/sample", "peak MB", "fwd", "bwd",
                                                  "samples", "failed"}};
  for (const auto& r : rows) {
    cells.push_back({r.explainer, r.model, num(100 * r.map, 1), num(100 * r.map_iq, 1),
                     num(100 * r.mar, 1), num(100 * r.mar_iq, 1), num(r.seconds_per_sample, 3),
                     num(r.peak_mb, 1), num(r.forward_passes, 1), num(r.backward_passes, 1),
                     std::to_string(r.samples), std::to_string(r.failures)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    for (size_t c = 0; c < cells[i].size(); ++c) {
      const std::string& s = cells[i][c];
      const bool left = c < 2;
      const std::string pad(width[c] - s.size(), ' ');
      out += (c ? "  " : "") + (left ? s + pad : pad + s);
    }
    out += "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  return out;
}

RunResult run_experiment(const std::string& config_path, const RunOptions& options) {
  std::ostream& log = *options.log;
  Plan plan = read_plan(config_path, options);
  if (plan.threads > 0) at::set_num_threads(static_cast<int>(plan.threads));
  at::Device device = at::kCPU;
  try {
    device = at::Device(plan.device);
  } catch (const std::exception&) {
    throw Error(str_cat(config_path, ": runtime.device must be cpu, cuda or cuda:N (got '",
                        plan.device, "')"));
  }

  RunResult result;
  result.out_dir = plan.out_dir;
  std::set<SampleKey> done;
  if (!list_shards(plan.out_dir).empty()) {
    if (!options.resume) {
      throw Error(str_cat(plan.out_dir, ": holds the shards of an earlier run. HINT: add --resume ",
                          "to continue it, or choose another folder with --set output=DIR"));
    }
    ShardScan scan = scan_shards(plan.out_dir, /*quarantine_corrupt=*/true);
    for (const auto& q : scan.quarantined)
      log << "xai: warning: damaged shard set aside: " << q << "\n";
    done = scan.finished;
  }
  fs::create_directories(plan.out_dir);

  ResultsMeta meta;
  meta.provenance = provenance(plan);
  for (const auto& e : plan.explainers) {
    ExplainerInfo info;
    info.parameters_json = e.impl->params_json();
    for (const auto& d : sample_metrics())
      info.metrics[d.name] = {d.higher_is_better, d.description};
    meta.explainers[e.name] = info;
  }

  const int64_t n = plan.dataset->size();
  const int64_t total = n * static_cast<int64_t>(plan.models.size());
  int64_t finished = 0;
  for (const auto& m : plan.models) {
    for (int64_t i = 0; i < n; ++i) finished += done.count({m.name, plan.dataset->id(i)});
  }
  result.samples_skipped = finished;
  log << "xai run: " << plan.name << ": " << plan.models.size() << " model(s) x " << n
      << " samples from " << plan.dataset->source() << " x " << plan.explainers.size()
      << " explainer(s) -> " << plan.out_dir;
  if (finished > 0) log << " (" << finished << " already done)";
  log << "\n";
  if (plan.dataset->skipped() > 0) {
    log << "xai run: " << plan.dataset->skipped()
        << " entries skipped: " << plan.dataset->skipped_reason() << "\n";
  }

  g_stop_signal = 0;
  auto old_int = std::signal(SIGINT, on_stop_signal);
  auto old_term = std::signal(SIGTERM, on_stop_signal);
  struct RestoreSignals {
    void (*i)(int);
    void (*t)(int);
    ~RestoreSignals() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  {
    ShardWriter writer(plan.out_dir, 0, meta, FlushPolicy(plan.flush_every, plan.flush_seconds));
    Progress progress(log, total, "samples", plan.progress);
    MemoryMeter meter;
    ExplainContext ctx;
    for (const auto& m : plan.models) {
      if (g_stop_signal) break;
      int64_t todo = 0;
      for (int64_t i = 0; i < n; ++i) todo += !done.count({m.name, plan.dataset->id(i)});
      if (todo == 0) continue;
      LoadOptions load;
      load.device = device;
      std::unique_ptr<Model> model = load_model(m.path, load);
      const std::string tok_path = (fs::path(m.path) / "tokenizer.json").string();
      XAI_CHECK(fs::exists(tok_path), tok_path,
                ": not found (every model folder needs its tokenizer)");
      const Tokenizer tokenizer = Tokenizer::from_file(tok_path);
      XAI_CHECK(tokenizer.vocab_size() <= model->spec().vocab_size, tok_path, ": ",
                tokenizer.vocab_size(), " tokens, more than the model's vocabulary of ",
                model->spec().vocab_size, " (HINT: the tokenizer does not belong to ", m.path, ")");

      for (int64_t i = 0; i < n && !g_stop_signal; ++i) {
        const std::string id = plan.dataset->id(i);
        if (done.count({m.name, id})) continue;
        progress.update(finished, m.name);
        Sample sample;
        Encoded enc;
        try {
          sample = plan.dataset->get(i);
          enc = encode_sample(sample, tokenizer, model->spec().max_positions);
        } catch (const std::exception& e) {
          writer.add_failure({m.name, id, "", e.what()});
          ++result.failures;
          ++finished;
          ++result.samples_done_now;
          continue;
        }
        SampleRecord rec;
        rec.model = m.name;
        rec.sample_id = id;
        rec.tokens = enc.ids;
        rec.token_offsets = enc.offsets;
        rec.prompt_len = enc.prompt_len;
        rec.explain_mask = enc.explain_mask;
        rec.evidence = enc.evidence_mask;
        rec.prompt = sample.prompt;
        rec.target = sample.target;
        for (auto& x : plan.explainers) {
          try {
            meter.start();
            Explanation ex = x.impl->explain(*model, enc, ctx);
            ExplanationRecord er;
            er.relevance = to_vector(ex.relevance);
            er.n_targets = ex.per_target.size(0);
            er.per_target = to_vector(ex.per_target);
            er.metrics = sample_metrics_of(er.relevance, enc);
            er.cost = {{"seconds", ex.cost.seconds},
                       {"forward_passes", static_cast<double>(ex.cost.forward_passes)},
                       {"sequences", static_cast<double>(ex.cost.sequences)},
                       {"backward_passes", static_cast<double>(ex.cost.backward_passes)},
                       {"peak_bytes", static_cast<double>(meter.peak_extra_bytes())}};
            rec.explanations[x.name] = std::move(er);
          } catch (const std::exception& e) {
            writer.add_failure({m.name, id, x.name, e.what()});
            ++result.failures;
          }
        }
        writer.add(std::move(rec));
        ++finished;
        ++result.samples_done_now;
      }
    }
    writer.close();
    progress.finish(
        str_cat(result.samples_done_now, " samples this run, ", result.failures, " failure(s)"));
  }
  if (g_stop_signal) {
    result.interrupted = true;
    log << "xai run: stopped by signal " << g_stop_signal.load()
        << "; finished samples are saved. HINT: rerun with --resume to continue\n";
  }

  MergeOptions mo;
  mo.provenance = meta.provenance;
  const MergeSummary merged = merge_shards(plan.out_dir, mo);
  result.results_h5 = merged.output;
  result.rows = summarize(merged.output, plan);

  nlohmann::ordered_json j;
  j["experiment"] = plan.name;
  j["schema_version"] = kResultsSchemaVersion;
  j["results_h5"] = merged.output;
  j["complete"] = !result.interrupted;
  j["samples"] = merged.samples;
  j["failures"] = merged.failures;
  j["config"] = nlohmann::ordered_json::parse(plan.resolved_json);
  nlohmann::ordered_json prov;
  for (const auto& [k, v] : meta.provenance) {
    if (k != "config") prov[k] = v;
  }
  j["provenance"] = prov;
  for (const auto& r : result.rows) {
    j["summary"].push_back({{"model", r.model},
                            {"explainer", r.explainer},
                            {"samples", r.samples},
                            {"failures", r.failures},
                            {"mAP", number_or_null(r.map)},
                            {"mAP_IQ", number_or_null(r.map_iq)},
                            {"mAR", number_or_null(r.mar)},
                            {"mAR_IQ", number_or_null(r.mar_iq)},
                            {"iq_band", {plan.iq_lo, plan.iq_hi}},
                            {"seconds_per_sample", number_or_null(r.seconds_per_sample)},
                            {"peak_mb", r.peak_mb},
                            {"forward_passes", number_or_null(r.forward_passes)},
                            {"backward_passes", number_or_null(r.backward_passes)}});
  }
  result.results_json = (fs::path(plan.out_dir) / "results.json").string();
  {
    std::ofstream out(result.results_json + ".tmp");
    out << j.dump(2) << "\n";
    out.close();
    XAI_CHECK(out.good(), result.results_json, ": write failed");
    fs::rename(result.results_json + ".tmp", result.results_json);
  }
  return result;
}

}  // namespace xai
