#include "framework/run/experiment.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "datasets/dataset.h"
#include "framework/common/build_info.h"
#include "framework/common/error.h"
#include "framework/common/threads.h"
#include "framework/config/config.h"
#include "framework/dist/assignment.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device.h"
#include "framework/dist/device_collectives.h"
#include "framework/dist/progress_board.h"
#include "framework/dist/rank_watchdog.h"
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
  std::string device = "auto";      // runtime.device as written (resolved per rank)
  std::string collectives = "mpi";  // runtime.collectives: mpi | nccl
  int64_t threads = 0;
  double rank_timeout = 60;  // runtime.rank_timeout: seconds before a silent rank counts as dead
  int64_t flush_every = 20;
  double flush_seconds = 60;
  Progress::Mode progress = Progress::Mode::kAuto;
  int64_t perturbation = 1;  // parallel.perturbation: ranks per perturbation group
  std::string resolved_yaml, resolved_json;
  std::vector<std::string> warnings;  // said once by rank 0 before the run starts
};

// Reads and checks the whole experiment (every key, every explainer's parameters, the model
// folders, the dataset) before any work; `path` names it in errors.
Plan read_plan(const Config& cfg, const std::string& path) {
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
  XAI_CHECK(band.size() == 2 && band[0] >= 0 && band[0] < band[1] && band[1] <= 100,
            metrics.where("iq_band"), "must be two percentiles [lo, hi] with 0 <= lo < hi <= 100");
  p.iq_lo = band[0];
  p.iq_hi = band[1];
  metrics.finish();

  const ConfigNode rt = root.child("runtime");
  p.device = rt.get_string("device", "auto");
  p.collectives = rt.get_choice("collectives", "mpi", {"mpi", "nccl"});
  p.threads = rt.get_int("threads", 0);
  XAI_CHECK(p.threads >= 0, rt.where("threads"), "must be >= 0 (got ", p.threads,
            "; 0 = LibTorch's default)");
  if (p.threads > 0) {
    const ThreadChoice c = choose_threads(p.threads, "runtime.threads");
    p.threads = c.threads;
    if (!c.warning.empty()) p.warnings.push_back(c.warning);
  }
  p.rank_timeout = rt.get_double("rank_timeout", 60);
  XAI_CHECK(p.rank_timeout >= 0, rt.where("rank_timeout"), "must be >= 0 seconds (got ",
            p.rank_timeout, "; 0 = off)");
  p.flush_every = rt.get_int("flush_every", 20);
  XAI_CHECK(p.flush_every > 0, rt.where("flush_every"), "must be positive (got ", p.flush_every,
            ")");
  p.flush_seconds = rt.get_double("flush_seconds", 60);
  XAI_CHECK(p.flush_seconds >= 0, rt.where("flush_seconds"), "must be >= 0 (got ", p.flush_seconds,
            "; 0 = no time rule)");
  p.progress =
      Progress::parse_mode(rt.get_choice("progress", "auto", {"auto", "bar", "lines", "off"}));
  rt.finish();

  const ConfigNode par = root.child("parallel");
  p.perturbation = par.get_int("perturbation", 1);
  XAI_CHECK(p.perturbation >= 1, par.where("perturbation"), "must be >= 1 (got ", p.perturbation,
            ")");
  par.finish();

  root.finish();
  cfg.finish_all();
  p.resolved_yaml = cfg.resolved_yaml();
  p.resolved_json = cfg.resolved_json();
  return p;
}

Plan read_plan(const std::string& path, const RunOptions& options) {
  return read_plan(Config::load(path, options.overrides), path);
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
      {"config_json", p.resolved_json},
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

ExtraArray to_extra(const at::Tensor& t) {
  ExtraArray a;
  a.shape = t.sizes().vec();
  a.values = to_vector(t);
  return a;
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

std::vector<SummaryRow> summarize(const ResultsReader& reader,
                                  const std::vector<std::string>& model_names,
                                  const std::vector<std::string>& explainer_names, double iq_lo,
                                  double iq_hi) {
  const auto failures = reader.failures();
  const auto models = reader.models();
  std::vector<SummaryRow> rows;
  for (const auto& model : model_names) {
    const bool have_model = std::find(models.begin(), models.end(), model) != models.end();
    const auto ex = have_model ? reader.explainers(model) : std::vector<std::string>{};
    for (const auto& explainer : explainer_names) {
      SummaryRow r;
      r.model = model;
      r.explainer = explainer;
      for (const auto& f : failures) {
        if (f.model == model && (f.explainer == explainer || f.explainer.empty())) ++r.failures;
      }
      if (std::find(ex.begin(), ex.end(), explainer) == ex.end()) {
        r.map = r.map_iq = r.mar = r.mar_iq = NAN;
        rows.push_back(r);
        continue;
      }
      const ExplainerTable t = reader.explainer(model, explainer);
      r.samples = static_cast<int64_t>(t.rows());
      auto col = [&](const std::map<std::string, std::vector<double>>& cols, const char* k) {
        auto it = cols.find(k);
        return it == cols.end() ? std::vector<double>() : it->second;
      };
      const auto ap = col(t.metrics, "ap"), ar = col(t.metrics, "ar");
      r.map = mean(ap);
      r.mar = mean(ar);
      r.map_iq = interquartile_mean(ap, iq_lo, iq_hi);
      r.mar_iq = interquartile_mean(ar, iq_lo, iq_hi);
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

MergedRun merge_run(const std::string& out_dir,
                    const std::map<std::string, std::string>& provenance,
                    std::optional<bool> complete) {
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
  out.rows = summarize(reader, models, explainers, iq_lo, iq_hi);

  nlohmann::ordered_json j;
  j["experiment"] = prov.count("experiment") ? prov.at("experiment") : "";
  j["schema_version"] = kResultsSchemaVersion;
  j["results_h5"] = merged.output;
  j["complete"] = complete ? nlohmann::ordered_json(*complete) : nlohmann::ordered_json(nullptr);
  j["samples"] = merged.samples;
  j["failures"] = merged.failures;
  j["config"] = config.is_object() ? config : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json pj;
  for (const auto& [k, v] : prov) {
    if (k != "config" && k != "config_json") pj[k] = v;
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
    j["summary"].push_back(row);
  }
  out.results_json = (fs::path(out_dir) / "results.json").string();
  {
    std::ofstream f(out.results_json + ".tmp");
    f << j.dump(2) << "\n";
    f.close();
    XAI_CHECK(f.good(), out.results_json, ": write failed");
    fs::rename(out.results_json + ".tmp", out.results_json);
  }
  return out;
}

namespace {

// Rank 0 runs `fn`; its error message (empty when it succeeded) and its strings reach every
// rank, and every rank throws that error, so a failure on rank 0 never leaves the others waiting.
std::vector<std::string> on_root(Communicator& comm,
                                 const std::function<std::vector<std::string>()>& fn) {
  std::string packed;
  if (comm.rank() == 0) {
    std::vector<std::string> items = {""};
    try {
      for (auto& s : fn()) items.push_back(std::move(s));
    } catch (const std::exception& e) {
      items = {e.what()};
      if (items[0].empty()) items[0] = "unknown error";
    }
    packed = pack_strings(items);
  }
  comm.broadcast(packed, 0);
  std::vector<std::string> items = unpack_strings(packed);
  XAI_CHECK(!items.empty(), "broadcast from rank 0 arrived empty");
  if (!items[0].empty()) throw CollectiveError(items[0]);
  items.erase(items.begin());
  return items;
}

// Every rank runs `fn`; if it throws on any rank, every rank throws the lowest failing rank's
// message as a CollectiveError (for checks every rank makes, such as reading the config).
void on_all(Communicator& comm, const std::function<void()>& fn) {
  if (comm.size() == 1) return fn();
  std::string error;
  try {
    fn();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  const auto all = comm.allgatherv(error);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty()) continue;
    throw CollectiveError(r == 0 ? all[r] : str_cat("rank ", r, ": ", all[r]));
  }
}

std::string hostname() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

}  // namespace

void check_experiment(const std::string& yaml_text, const std::string& source_name) {
  read_plan(Config::parse(yaml_text, source_name), source_name);
}

ExperimentOutline check_experiment_file(const std::string& path,
                                        const std::vector<std::string>& overrides) {
  RunOptions options;
  options.overrides = overrides;
  const Plan plan = read_plan(path, options);
  return {plan.name, plan.out_dir};
}

RunResult run_experiment(const std::string& config_path, const RunOptions& options) {
  LocalCommunicator local;
  Communicator& comm = options.comm ? *options.comm : local;
  const World world = comm.world();
  // Notices come from rank 0 only; the others stay quiet unless something concerns them alone.
  std::ostringstream quiet;
  std::ostream& log = world.is_root() ? *options.log : quiet;

  Plan plan;
  at::Device device = at::kCPU;
  on_all(comm, [&] {
    plan = read_plan(config_path, options);
    DeviceInventory inventory;
    // hasCUDART: LibTorch has its CUDA part (1.13 and 2.x); device_count is 0 without one.
    inventory.cuda_built = at::Context::hasCUDART();
    inventory.cuda_devices = static_cast<int>(torch::cuda::device_count());
    device = at::Device(
        resolve_device(plan.device, inventory, world, str_cat(config_path, ": runtime.device")));
    if (plan.collectives == "nccl") {
      XAI_CHECK(nccl_built(), config_path,
                ": runtime.collectives: nccl, but this xai was built without NCCL (HINT: use mpi, "
                "or rebuild where nccl.h, libnccl and libcudart are found)");
      XAI_CHECK(device.is_cuda(), config_path,
                ": runtime.collectives: nccl needs a GPU per rank, but runtime.device resolved to ",
                device.str(), " (HINT: use runtime.collectives: mpi on CPUs)");
    }
    XAI_CHECK(world.size % plan.perturbation == 0, config_path,
              ": parallel.perturbation = ", plan.perturbation, " does not divide the ", world.size,
              " ranks (HINT: launch a multiple of it)");
  });
  for (const std::string& w : plan.warnings) log << "xai run: warning: " << w << "\n";
  if (plan.threads > 0) at::set_num_threads(static_cast<int>(plan.threads));

  // Perturbation groups: `per_group` consecutive ranks run the same samples; AtMan deals its
  // perturbation batches over the group and sums the rows, the group's first rank records the
  // sample, and the other methods run on that first rank alone. Samples go to groups, not ranks.
  const int per_group = static_cast<int>(plan.perturbation);
  const int groups = world.size / per_group, group = world.rank / per_group;
  const bool group_root = world.rank % per_group == 0;
  std::unique_ptr<Communicator> group_comm;
  if (per_group > 1) group_comm = comm.split(group, world.rank);
  // runtime.collectives: nccl: each perturbation group also gets an NCCL communicator on its
  // ranks' GPUs (id over MPI, or through XAI_NCCL_RENDEZVOUS); every rank learns any failure.
  std::unique_ptr<DeviceCollectives> group_devices;
  if (plan.collectives == "nccl" && group_comm) {
    on_all(comm, [&] {
      group_devices = make_nccl_communicator(*group_comm, static_cast<int>(device.index()),
                                             nccl_rendezvous_from_env(group));
    });
  }

  RunResult result;
  result.out_dir = plan.out_dir;
  result.rank = world.rank;
  result.world_size = world.size;

  // Rank 0 alone reads the journals (and sets damaged shards aside) before any writer opens a
  // shard; every rank gets the finished keys, so all agree on what is left to do.
  std::set<SampleKey> done;
  {
    const auto keys = on_root(comm, [&] {
      std::vector<std::string> flat;
      // Progress posts and heartbeats of an earlier run would mislead this run.
      std::error_code ec;
      if (fs::is_directory(shards_dir(plan.out_dir), ec)) {
        for (const auto& entry : fs::directory_iterator(shards_dir(plan.out_dir), ec)) {
          const std::string file = entry.path().filename().string();
          if (file.find(".progress") != std::string::npos ||
              file.find(".alive") != std::string::npos) {
            fs::remove(entry.path(), ec);
          }
        }
      }
      if (list_shards(plan.out_dir).empty()) return flat;
      if (!options.resume) {
        throw Error(str_cat(plan.out_dir, ": holds the shards of an earlier run. HINT: add ",
                            "--resume to continue it, or choose another folder with --set ",
                            "output=DIR"));
      }
      ShardScan scan = scan_shards(plan.out_dir, /*quarantine_corrupt=*/true);
      for (const auto& q : scan.quarantined)
        log << "xai: warning: damaged shard set aside: " << q << "\n";
      for (const auto& k : scan.finished) {
        flat.push_back(k.model);
        flat.push_back(k.sample_id);
      }
      return flat;
    });
    for (size_t i = 0; i + 1 < keys.size(); i += 2) done.insert({keys[i], keys[i + 1]});
  }
  fs::create_directories(plan.out_dir);

  // Provenance: the same on every rank except the shard's own hostname.
  const std::vector<std::string> hosts = comm.allgatherv(hostname());
  const int64_t ranks_per_node = comm.allreduce_value(int64_t{world.local_size}, ReduceOp::kMax);
  ResultsMeta meta;
  meta.provenance = provenance(plan);
  meta.provenance["world_size"] = std::to_string(world.size);
  meta.provenance["ranks_per_node"] = std::to_string(ranks_per_node);
  meta.provenance["communicator"] = comm.backend();
  meta.provenance["collectives"] = group_devices ? group_devices->backend() : comm.backend();
  {
    // Each rank's resolved device, in rank order ("cuda:0,cuda:1,..."): the same on every shard.
    std::string joined;
    for (const auto& d : comm.allgatherv(device.str())) joined += (joined.empty() ? "" : ",") + d;
    meta.provenance["devices"] = joined;
  }
  {
    std::set<std::string> unique(hosts.begin(), hosts.end());
    std::string joined;
    for (const auto& h : unique) joined += (joined.empty() ? "" : ",") + h;
    meta.provenance["hostnames"] = joined;
    meta.provenance["nodes"] = std::to_string(unique.size());
  }
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
  if (world.size > 1) log << " on " << world.size << " ranks";
  if (per_group > 1) log << " (" << groups << " perturbation groups of " << per_group << ")";
  if (finished > 0) log << " (" << finished << " already done)";
  log << "\n";
  if (plan.dataset->skipped() > 0) {
    log << "xai run: " << plan.dataset->skipped()
        << " entries skipped: " << plan.dataset->skipped_reason() << "\n";
  }

  // Who computes what: per model, the samples not done yet, balanced by token count over the
  // ranks (each rank measures every size-th sample; a sum gathers the lengths). One process
  // takes everything without measuring.
  std::vector<Tokenizer> tokenizers;
  std::vector<std::vector<int64_t>> mine(plan.models.size());  // dataset indices, ascending
  for (size_t mi = 0; mi < plan.models.size(); ++mi) {
    const auto& m = plan.models[mi];
    const std::string tok_path = (fs::path(m.path) / "tokenizer.json").string();
    XAI_CHECK(fs::exists(tok_path), tok_path,
              ": not found (every model folder needs its tokenizer)");
    tokenizers.push_back(Tokenizer::from_file(tok_path));
    std::vector<int64_t> todo;
    for (int64_t i = 0; i < n; ++i) {
      if (!done.count({m.name, plan.dataset->id(i)})) todo.push_back(i);
    }
    if (groups == 1) {
      mine[mi] = todo;
      continue;
    }
    std::vector<int64_t> cost(todo.size(), 0);
    for (size_t k = static_cast<size_t>(world.rank); k < todo.size(); k += world.size) {
      try {
        cost[k] = encode_sample(plan.dataset->get(todo[k]), tokenizers.back(), 0).size();
      } catch (const std::exception&) {
        cost[k] = 1;  // its owner records the failure
      }
    }
    comm.allreduce(cost, ReduceOp::kSum);
    std::vector<WorkItem> items;
    for (size_t k = 0; k < todo.size(); ++k) items.push_back({plan.dataset->id(todo[k]), cost[k]});
    const std::vector<int> owner = assign_balanced(items, groups);
    for (int64_t j : owned_by(owner, group)) mine[mi].push_back(todo[static_cast<size_t>(j)]);
  }
  int64_t my_total = 0;  // samples this rank records (the other members of a group record none)
  if (group_root) {
    for (const auto& v : mine) my_total += static_cast<int64_t>(v.size());
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

  // A token of this run for the heartbeats (files of an earlier run in the folder are ignored).
  std::string run_token;
  if (world.size > 1 && plan.rank_timeout > 0) {
    if (world.is_root()) {
      run_token = str_cat(std::hex, ::getpid(), "-",
                          std::chrono::system_clock::now().time_since_epoch().count());
    }
    comm.broadcast(run_token, 0);
  }

  int64_t done_now = 0, failures_now = 0;
  std::unique_ptr<RankWatchdog> watchdog;  // lives to the end: the merge's wait is covered too
  {
    ShardWriter writer(plan.out_dir, world.rank, meta,
                       FlushPolicy(plan.flush_every, plan.flush_seconds));
    // Several ranks: a rank that dies or freezes ends the others within runtime.rank_timeout
    // (at once for a dead process on the same node), with a message naming it, instead of
    // leaving them blocked in a collective. Flushed samples are kept; --resume finishes.
    if (!run_token.empty()) {
      const int me = world.rank;
      watchdog = std::make_unique<RankWatchdog>(
          shards_dir(plan.out_dir), world.rank, world.size, run_token, plan.rank_timeout,
          [me](const std::string& why) {
            std::fprintf(stderr,
                         "xai run: %s; stopping rank %d too. HINT: the flushed samples are in "
                         "the shards; rerun with --resume to finish\n",
                         why.c_str(), me);
            std::fflush(stderr);
            std::_Exit(1);  // the launcher then ends every remaining rank
          });
    }
    // Rank 0 shows the whole run: its own count live, the others' from their posts on the
    // progress board (several ranks only; each posts every 2 s at most).
    std::unique_ptr<ProgressBoard> board;
    if (world.size > 1) {
      board = std::make_unique<ProgressBoard>(shards_dir(plan.out_dir), world.rank, world.size);
      board->post(0, my_total, false, /*force=*/true);
    }
    Progress progress(log, total, "samples",
                      world.is_root() ? plan.progress : Progress::Mode::kOff);
    int64_t others = 0;   // rank 0: samples done by the other ranks, from the board
    bool closed = false;  // this rank's shard is closed and its last post made
    auto last_read = std::chrono::steady_clock::now() - std::chrono::hours(1);
    // Returns whether every other rank has posted that it is finished (rank 0, several ranks).
    auto show = [&](const std::string& note, bool read_now) {
      if (!board) {
        progress.update(finished + done_now, note);
        return true;
      }
      if (!closed) board->post(done_now, my_total, false);
      if (!world.is_root()) return false;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_read < std::chrono::seconds(1) && !read_now) {
        progress.update(finished + done_now + others, note);
        return false;
      }
      last_read = now;
      bool all_finished = true;
      others = 0;
      const auto posts = board->read();
      for (int r = 1; r < world.size; ++r) {
        others += posts[r].done;
        all_finished = all_finished && posts[r].finished;
      }
      progress.update(finished + done_now + others, note);
      return all_finished;
    };
    // A line for the user between progress updates: rank 0 prints it; `every_rank`: the other
    // ranks too, on stderr with their rank (their own sample failures).
    auto notice = [&](const std::string& line, bool every_rank) {
      if (world.is_root()) {
        progress.message(line);
      } else if (every_rank) {
        std::cerr << "[rank " << world.rank << "] " << line << "\n" << std::flush;
      }
    };
    std::set<std::pair<std::string, std::string>> told;  // (model, explainer) failures said
    MemoryMeter meter;
    ExplainContext ctx;
    ctx.perturbation_group = group_comm.get();
    ctx.perturbation_device_group = group_devices.get();
    // Whether to stop before the next sample. A group's members decide together (a signal may
    // reach them at different times), else one would wait for the others in AtMan's sum.
    bool stop = false;
    auto should_stop = [&] {
      if (!stop) {
        stop = group_comm
                   ? group_comm->allreduce_value(int64_t{g_stop_signal != 0}, ReduceOp::kMax) > 0
                   : g_stop_signal != 0;
      }
      return stop;
    };
    for (size_t mi = 0; mi < plan.models.size(); ++mi) {
      if (should_stop()) break;
      if (mine[mi].empty()) continue;
      const auto& m = plan.models[mi];
      LoadOptions load;
      load.device = device;
      std::unique_ptr<Model> model = load_model(m.path, load);
      const Tokenizer& tokenizer = tokenizers[mi];
      XAI_CHECK(tokenizer.vocab_size() <= model->spec().vocab_size, m.path,
                "/tokenizer.json: ", tokenizer.vocab_size(),
                " tokens, more than the model's vocabulary of ", model->spec().vocab_size,
                " (HINT: the tokenizer does not belong to ", m.path, ")");
      // A method that cannot run on this model at all (a layer it names is not one of the
      // model's, ...) is said once and skipped here; each sample's failure record says why.
      std::vector<std::string> cannot(plan.explainers.size());
      for (size_t k = 0; k < plan.explainers.size(); ++k) {
        try {
          plan.explainers[k].impl->check_model(*model);
        } catch (const std::exception& e) {
          cannot[k] = e.what();
          notice(str_cat("xai run: ", plan.explainers[k].name, " cannot run on ", m.name, ": ",
                         cannot[k], "; skipped there, the other explainers go on"),
                 false);
        }
      }

      for (int64_t i : mine[mi]) {
        if (should_stop()) break;
        const std::string id = plan.dataset->id(i);
        if (watchdog) watchdog->set_current(m.name + "/" + id);
        show(m.name, false);
        Sample sample;
        Encoded enc;
        try {
          sample = plan.dataset->get(i);
          enc = encode_sample(sample, tokenizer, model->spec().max_positions);
        } catch (const std::exception& e) {
          if (!group_root) continue;  // every member fails alike; the root records it
          writer.add_failure({m.name, id, "", e.what()});
          ++failures_now;
          ++done_now;
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
        for (size_t k = 0; k < plan.explainers.size(); ++k) {
          auto& x = plan.explainers[k];
          if (!group_root && !x.impl->splits_perturbations()) continue;
          if (!cannot[k].empty()) {
            if (!group_root) continue;
            writer.add_failure({m.name, id, x.name, cannot[k]});
            ++failures_now;
            continue;
          }
          try {
            meter.start();
            Explanation ex = x.impl->explain(*model, enc, ctx);
            if (const std::string why = non_finite_reason(ex); !why.empty()) throw Error(why);
            ExplanationRecord er;
            er.relevance = to_vector(ex.relevance);
            er.n_targets = ex.per_target.size(0);
            er.per_target = to_vector(ex.per_target);
            for (const auto& [name, t] : ex.extras) er.extras[name] = to_extra(t);
            er.metrics = sample_metrics_of(er.relevance, enc);
            er.cost = {{"seconds", ex.cost.seconds},
                       {"forward_passes", static_cast<double>(ex.cost.forward_passes)},
                       {"sequences", static_cast<double>(ex.cost.sequences)},
                       {"backward_passes", static_cast<double>(ex.cost.backward_passes)},
                       {"peak_bytes", static_cast<double>(meter.peak_extra_bytes())}};
            rec.explanations[x.name] = std::move(er);
          } catch (const std::exception& e) {
            if (!group_root) continue;
            writer.add_failure({m.name, id, x.name, e.what()});
            ++failures_now;
            if (told.insert({m.name, x.name}).second) {
              notice(str_cat("xai run: ", x.name, " failed on ", m.name, ", sample ", id, ": ",
                             e.what(), " (the run goes on; further failures of ", x.name, " on ",
                             m.name, " are only recorded under /failures)"),
                     true);
            }
          }
        }
        if (!group_root) continue;
        writer.add(std::move(rec));
        ++done_now;
      }
    }
    if (watchdog) watchdog->set_current("");
    writer.close();
    if (board) {
      board->post(done_now, my_total, /*finished=*/true);
      closed = true;
      // Rank 0 keeps the display going until every rank has posted that it is finished; a rank
      // that dies ends the whole job (the launcher's doing), so this cannot wait forever.
      while (world.is_root() && !show("waiting for the other ranks", true)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
    progress.finish(world.size == 1
                        ? str_cat(done_now, " samples this run, ", failures_now, " failure(s)")
                        : str_cat(done_now + others, " samples this run on ", world.size,
                                  " ranks (rank 0: ", done_now, ", ", failures_now,
                                  " failure(s))"));
  }

  // Every shard is closed once all ranks arrive here (the sum is also the barrier).
  std::vector<int64_t> totals = {done_now, failures_now, g_stop_signal ? 1 : 0};
  comm.allreduce(totals, ReduceOp::kSum);
  if (world.size > 1) ProgressBoard(shards_dir(plan.out_dir), world.rank, world.size).remove();
  result.samples_done_now = totals[0];
  result.failures = totals[1];
  result.interrupted = totals[2] > 0;
  if (result.interrupted) {
    log << "xai run: stopped by a signal; finished samples are saved. HINT: rerun with --resume "
           "to continue\n";
  }

  MergedRun merged;
  const auto paths = on_root(comm, [&] {
    std::map<std::string, std::string> prov = meta.provenance;
    prov["hostname"] = hosts.at(0);
    prov["finished_at"] = utc_now();
    merged = merge_run(plan.out_dir, prov, !result.interrupted);
    return std::vector<std::string>{merged.results_h5, merged.results_json};
  });
  result.results_h5 = paths.at(0);
  result.results_json = paths.at(1);
  result.rows = merged.rows;
  return result;
}

}  // namespace xai
