// run_experiment as a sequence of named stages, each in its own file: the plan (plan.cpp), the
// ranks' layout and work and the sample loop (sample_loop.cpp), the output folder and what earlier
// runs finished (output_folder.cpp), the merge and summary (summary.cpp).
#include "framework/run/experiment.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <sstream>

#include "framework/common/build_info.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device.h"
#include "framework/dist/device_collectives.h"
#include "framework/dist/progress_board.h"
#include "framework/dist/rank_watchdog.h"
#include "framework/io/shard_writer.h"
#include "framework/metrics/metrics.h"
#include "framework/metrics/segmentation.h"
#include "framework/model/family.h"
#include "framework/model/synthetic.h"
#include "framework/run/fingerprint.h"
#include "framework/run/machine.h"
#include "framework/run/memory_plan.h"
#include "framework/run/output_folder.h"
#include "framework/run/plan.h"
#include "framework/run/pruning_stage.h"
#include "framework/run/rank_calls.h"
#include "framework/run/sample_loop.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

// Stage 1, on every rank: the plan and this rank's device, checked before any work.
Plan read_checked_plan(Communicator& comm, const std::string& config_path,
                       const RunOptions& options, at::Device& device) {
  const World world = comm.world();
  Plan plan;
  on_all(comm, [&] {
    plan = read_plan(config_path, options.overrides);
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
    XAI_CHECK(world.size % plan.tensor == 0,
              plan.tensor_where.substr(0, plan.tensor_where.size() - 2), " = ", plan.tensor,
              " does not divide the ", world.size, " rank(s) (HINT: launch a multiple of it)");
    XAI_CHECK(world.size % (plan.perturbation * plan.tensor) == 0, config_path,
              ": parallel.perturbation = ", plan.perturbation,
              plan.tensor > 1 ? str_cat(" replicas of parallel.tensor = ", plan.tensor, " ranks")
                              : std::string(),
              " does not divide the ", world.size, " ranks (HINT: launch a multiple of ",
              plan.perturbation * plan.tensor, ")");
    // Memory, before any weights are loaded: refuse what cannot fit, lower default batches.
    tune_host_allocator(plan.host_memory);
    const MemoryPlan memory = plan_memory(plan, device, world.local_size);
    if (const MemoryPlanRow* r = memory.first_refused()) {
      throw Error(str_cat(config_path, ": ", r->refusal));
    }
    apply_memory_plan(plan, memory);
    for (const std::string& n : memory.notes) plan.warnings.push_back(n);
  });
  return plan;
}

// What the run depends on: each model's files and each explainer's parameters.
RunFingerprint fingerprint_of(const Plan& plan) {
  RunFingerprint f;
  for (const auto& m : plan.models) {
    f.models[m.name] =
        m.synthetic ? fingerprint_synthetic(model_config_json(m.spec), synthetic_tokenizer_json(),
                                            m.seed, m.synthetic_dtype)
                    : fingerprint_model(m.path);
    f.models[m.name].dtype = m.dtype;
  }
  for (const auto& e : plan.explainers) f.explainers[e.name] = e.impl->parameters_json();
  // What shapes each sample (not `limit`, which a resume may raise, nor `path`: a moved file): the
  // experiment's dataset, and each model's own (models[].dataset) under "models".
  const nlohmann::json config = nlohmann::json::parse(plan.resolved_json, nullptr, false);
  if (!config.is_object()) return f;
  auto shaping_of = [](const nlohmann::json& dataset) {
    nlohmann::json shaping = nlohmann::json::object();
    for (const char* key : {"type", "split", "seed", "prompt_template", "target_template",
                            "explain", "explain_special_tokens"}) {
      if (dataset.contains(key)) shaping[key] = dataset[key];
    }
    // The generated images' size (only toy_shapes reads it; other fingerprints stay as they were).
    if (dataset.value("type", "") == "toy_shapes" && dataset.contains("image_size")) {
      shaping["image_size"] = dataset["image_size"];
    }
    return shaping;
  };
  nlohmann::json shaping = config.contains("dataset") && config["dataset"].is_object()
                               ? shaping_of(config["dataset"])
                               : nlohmann::json::object();
  if (config.contains("models") && config["models"].is_array()) {
    for (size_t i = 0; i < plan.models.size() && i < config["models"].size(); ++i) {
      const nlohmann::json& m = config["models"][i];
      if (m.is_object() && m.contains("dataset") && m["dataset"].is_object()) {
        shaping["models"][plan.models[i].name] = shaping_of(m["dataset"]);
      }
    }
  }
  // The perturbation test adds metrics to every row: a resume must not mix rows with and
  // without them (recorded only when on, so fingerprints of runs without it stay as they were).
  if (plan.perturbation_test.enabled) {
    shaping["perturbation"] = {{"steps", plan.perturbation_test.steps}};
  }
  f.samples = shaping.dump();
  return f;
}

// Stage 3, on rank 0 (every rank learns the outcome): the output folder is created and locked,
// an interrupted run's leftovers are cleared, and what earlier runs finished is read.
struct OutputState {
  OutputLock lock;  // rank 0 only
  std::set<SampleKey> done;
  std::string fingerprint_json;
  std::string accepted_changes;  // with --allow-changed: what differed, for the provenance
};
OutputState claim_output(Communicator& comm, const Plan& plan, const RunOptions& options,
                         std::ostream& log) {
  OutputState out;
  const auto items = on_root(comm, [&] {
    out.lock = OutputLock::acquire(plan.out_dir, plan.output_where, "run " + plan.name);
    remove_leftovers(plan.out_dir);
    const RunFingerprint now = fingerprint_of(plan);
    const PreviousRun prev =
        read_previous_run(plan.out_dir, options.resume, options.allow_changed, now);
    for (const auto& n : prev.notices) log << "xai run: warning: " << n << "\n";
    std::string accepted;
    for (const auto& a : prev.accepted) {
      log << "xai run: warning: resuming across a change (--allow-changed): " << a << "\n";
      accepted += (accepted.empty() ? "" : "; ") + a;
    }
    std::vector<std::string> flat = {now.to_json(), accepted};
    for (const auto& k : prev.finished) {
      flat.push_back(k.model);
      flat.push_back(k.sample_id);
    }
    return flat;
  });
  out.fingerprint_json = items.at(0);
  out.accepted_changes = items.at(1);
  for (size_t i = 2; i + 1 < items.size(); i += 2) out.done.insert({items[i], items[i + 1]});
  return out;
}

// Stage 4, on every rank: how the results are made, written into every shard (the same on every
// rank except the shard's own hostname).
ResultsMeta run_meta(Communicator& comm, const Plan& plan, const RunLayout& layout,
                     const OutputState& output, std::string& root_host) {
  const World& world = layout.world;
  ResultsMeta meta;
  meta.provenance = {
      {"experiment", plan.name},
      {"config_path", plan.config_path},
      {"config", plan.resolved_yaml},
      {"config_json", plan.resolved_json},
      {"git_commit", build_git_commit()},
      {"xai_version", build_xai_version()},
      {"libtorch_version", build_torch_version()},
      {"hostname", hostname()},
      {"world_size", std::to_string(world.size)},
      // The layout: replicas of parallel.tensor ranks, perturbation groups of replicas.
      {"parallel_tensor", std::to_string(world.tensor)},
      {"parallel_perturbation", std::to_string(layout.per_group)},
      {"device", plan.device},
      {"threads", std::to_string(at::get_num_threads())},
      {"finished_at", utc_now()},
      {"fingerprint", output.fingerprint_json},
  };
  if (!output.accepted_changes.empty()) {
    meta.provenance["resumed_across_changes"] = output.accepted_changes;
    meta.accept_changed_parameters = true;
  }
  for (const char* var : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"}) {
    if (const char* v = std::getenv(var)) meta.provenance[var] = v;
  }
  const std::vector<std::string> hosts = comm.allgatherv(hostname());
  meta.provenance["ranks_per_node"] =
      std::to_string(comm.allreduce_value(int64_t{world.local_size}, ReduceOp::kMax));
  meta.provenance["communicator"] = comm.backend();
  meta.provenance["collectives"] =
      layout.group_devices ? layout.group_devices->backend() : comm.backend();
  {
    // Each rank's resolved device, in rank order ("cuda:0,cuda:1,..."): the same on every shard.
    std::string joined;
    for (const auto& d : comm.allgatherv(layout.device.str())) {
      joined += (joined.empty() ? "" : ",") + d;
    }
    meta.provenance["devices"] = joined;
  }
  {
    std::set<std::string> unique(hosts.begin(), hosts.end());
    std::string joined;
    for (const auto& h : unique) joined += (joined.empty() ? "" : ",") + h;
    meta.provenance["hostnames"] = joined;
    meta.provenance["nodes"] = std::to_string(unique.size());
    root_host = hosts.at(0);
  }
  // The metrics every explainer's rows may hold: AP/AR, segmentation when a model reads images,
  // the perturbation test's when it runs (each config.json read once, not per explainer).
  std::vector<MetricDef> declared = sample_metrics();
  bool images = false;
  for (const ModelEntry& m : plan.models) images = images || reads_images(entry_spec(m));
  if (images) {
    const auto& seg = segmentation_metric_defs();
    declared.insert(declared.end(), seg.begin(), seg.end());
  }
  if (plan.perturbation_test.enabled) {
    const auto& pert = perturbation_metrics();
    declared.insert(declared.end(), pert.begin(), pert.end());
  }
  // dataset.target: generate: whether each generated answer matches the dataset's.
  bool generates = false;
  for (const ModelEntry& m : plan.models) generates = generates || m.dataset->generated_tokens() > 0;
  if (generates) declared.push_back(exact_match_metric());
  // With a leave-one-out explainer in the run, every other one's rank correlation with it.
  if (occlusion_reference(plan) != nullptr) {
    declared.push_back({"spearman_occlusion", true,
                        "Spearman's rank correlation with the occlusion (leave-one-out) "
                        "relevance over the explained tokens"});
    declared.push_back({"kendall_occlusion", true,
                        "Kendall's tau-b with the occlusion (leave-one-out) relevance over the "
                        "explained tokens"});
  }
  for (const auto& e : plan.explainers) {
    ExplainerInfo info;
    info.parameters_json = e.impl->parameters_json();
    info.settings = e.impl->settings_line();
    for (const MetricDef& d : declared) info.metrics[d.name] = {d.higher_is_better, d.description};
    meta.explainers[e.name] = info;
  }
  return meta;
}

void say_what_runs(const Plan& plan, const RunLayout& layout, const SampleWork& work,
                   std::ostream& log) {
  log << "xai run: " << plan.name << ": " << plan.models.size() << " model(s) x ";
  if (plan.datasets.size() == 1) {
    log << plan.datasets[0]->size() << " samples from " << plan.datasets[0]->source();
  } else {  // models with datasets of their own: each model's
    for (size_t mi = 0; mi < plan.models.size(); ++mi) {
      const ModelEntry& m = plan.models[mi];
      log << (mi == 0 ? "(" : ", ") << m.name << ": " << m.dataset->size() << " samples from "
          << m.dataset->source();
    }
    log << ")";
  }
  log << " x " << plan.explainers.size() << " explainer(s) -> " << plan.out_dir;
  if (layout.world.size > 1) log << " on " << layout.world.size << " ranks";
  if (layout.world.tensor > 1) {
    log << " (" << layout.world.replicas() << " model replica(s) of " << layout.world.tensor
        << " ranks each, parallel.tensor)";
  }
  if (layout.per_group > 1) {
    log << " (" << layout.groups << " perturbation groups of " << layout.per_group
        << (layout.world.tensor > 1 ? " replicas)" : ")");
  }
  if (work.finished > 0) log << " (" << work.finished << " already done)";
  log << "\n";
  for (const auto& data : plan.datasets) {
    if (data->skipped() > 0) {
      log << "xai run: " << data->skipped() << " entries of " << data->source()
          << " skipped: " << data->skipped_reason() << "\n";
    }
  }
}

}  // namespace

void check_experiment(const std::string& yaml_text, const std::string& source_name) {
  read_plan(Config::parse(yaml_text, source_name), source_name);
}

ExperimentOutline check_experiment_file(const std::string& path,
                                        const std::vector<std::string>& overrides) {
  const Plan plan = read_plan(path, overrides);
  return {plan.name, plan.out_dir};
}

RunResult run_experiment(const std::string& config_path, const RunOptions& options) {
  LocalCommunicator local;
  Communicator& comm = options.comm ? *options.comm : local;
  const World world = comm.world();
  // Notices come from rank 0 only; the others stay quiet unless something concerns them alone.
  std::ostringstream quiet;
  std::ostream& log = world.is_root() ? *options.log : quiet;

  at::Device device = at::kCPU;
  const Plan plan = read_checked_plan(comm, config_path, options, device);
  for (const std::string& w : plan.warnings) log << "xai run: warning: " << w << "\n";
  if (plan.threads > 0) at::set_num_threads(static_cast<int>(plan.threads));

  RunLayout layout = make_layout(comm, plan, device);
  OutputState output = claim_output(comm, plan, options, log);
  std::string root_host;  // the merged results' hostname
  const ResultsMeta meta = run_meta(comm, plan, layout, output, root_host);
  const SampleWork work = assign_samples(comm, plan, layout, output.done);
  say_what_runs(plan, layout, work, log);

  RunResult result;
  result.out_dir = plan.out_dir;
  result.rank = world.rank;
  result.world_size = world.size;
  result.samples_skipped = work.finished;

  SampleSaver saver;
  // The watchdog lives until every rank has passed the last collective below.
  const std::unique_ptr<RankWatchdog> watchdog = start_watchdog(comm, plan, saver);
  const LoopTotals mine = run_samples(plan, layout, work, meta, log, saver, watchdog.get());

  // Every shard is closed once all ranks arrive here (the sum is also the barrier).
  std::vector<int64_t> totals = {mine.done_now, mine.failures_now, mine.stopped ? 1 : 0};
  comm.allreduce(totals, ReduceOp::kSum);
  if (world.size > 1) ProgressBoard(shards_dir(plan.out_dir), world.rank, world.size).remove();
  result.samples_done_now = totals[0];
  result.failures = totals[1];
  result.interrupted = totals[2] > 0;
  if (result.interrupted) {
    log << "xai run: stopped by a signal; finished samples are saved. HINT: rerun with --resume "
           "to continue\n";
  }

  // Rank 0 merges; completeness is judged against the plan (every model x every sample id), not
  // against what the shards happen to hold.
  MergedRun merged;
  const auto paths = on_root(comm, [&] {
    std::map<std::string, std::string> prov = meta.provenance;
    prov["hostname"] = root_host;
    prov["finished_at"] = utc_now();
    // What the seconds were measured on: rank 0's CPU, its matmul ceiling, its kernel choices.
    prov["machine"] = machine_report_json();
    std::vector<SampleKey> planned;
    for (const auto& m : plan.models) {
      for (int64_t i = 0; i < m.dataset->size(); ++i) {
        planned.push_back({m.name, m.dataset->id(i)});
      }
    }
    merged = merge_run(plan.out_dir, prov, !result.interrupted, &planned);
    if (merged.missing > 0 && !result.interrupted) {
      log << "xai run: warning: " << merged.results_h5 << " holds "
          << merged.planned - merged.missing << " of the " << merged.planned << " planned samples; "
          << merged.missing << " are missing (e.g. " << merged.missing_example
          << "), so the results are marked incomplete. HINT: rerun with --resume\n";
    }
    return std::vector<std::string>{merged.results_h5, merged.results_json,
                                    std::to_string(merged.missing)};
  });
  result.results_h5 = paths.at(0);
  result.results_json = paths.at(1);
  result.missing = std::stoll(paths.at(2));
  // AttAttr's pruning experiment needs every sample's head importance: a complete run only.
  if (plan.pruning.enabled && result.missing == 0 && !result.interrupted) {
    run_pruning_stage(comm, plan, layout, result.results_h5, result.results_json, log);
  }
  result.rows = merged.rows;
  return result;
}

}  // namespace xai
