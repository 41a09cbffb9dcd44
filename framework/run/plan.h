// The experiment as read and checked before any work: models, dataset, explainers, runtime and
// parallel settings. Internal to framework/run (run_experiment and its stages).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "framework/common/host_memory.h"
#include "framework/eval/perturbation.h"
#include "framework/eval/pruning.h"
#include "framework/model/model.h"
#include "framework/run/progress.h"
#include "framework/text/sample_encoder.h"
#include "methods/explainer.h"

namespace xai {

class Config;

struct ModelEntry {
  std::string name, path;  // path: "" for a synthetic model
  // models[].synthetic: a model of that shape with seeded random weights and the byte-level
  // tokenizer, built in memory (framework/model/synthetic.h); its dtype is `dtype` below, whose
  // `auto` means synthetic.dtype (default float32) on every device.
  bool synthetic = false;
  ModelSpec spec;  // synthetic only
  uint64_t seed = 0;
  std::string synthetic_dtype = "float32";
  // models[].dtype: auto (float32 on the CPU, the checkpoint's own on a GPU), float32, bfloat16,
  // float16 (a GPU only).
  std::string dtype = "auto";
  std::string dtype_where;  // "exp.yaml:4: models[0].dtype: " for messages
  // Where its samples come from: models[].dataset when it has one, else the experiment's dataset
  // (owned by Plan::datasets).
  const Dataset* dataset = nullptr;
  bool own_dataset = false;  // models[].dataset given
};

// The entry's model on `device` (loaded from its folder, or built when synthetic) and its
// tokenizer; `where` names models[i] in errors.
// `tensor_group`: this rank's part of the model under tensor parallelism (null: all of it).
std::unique_ptr<Model> load_entry_model(const ModelEntry& m, const at::Device& device,
                                        const std::string& where, bool prefault = true,
                                        const TensorGroup* tensor_group = nullptr);
// The entry's spec without loading weights (config.json, or the synthetic shape).
ModelSpec entry_spec(const ModelEntry& m);
// How the entry's model reads a sample: its tokenizer (tokenizer.json), or for an image model its
// image processor (preprocessor_config.json) and patch geometry. Throws xai::Error naming the
// missing or bad file.
SampleEncoder entry_encoder(const ModelEntry& m);
// The same for the model folder `dir` whose config is `spec` (the CLI's --model).
SampleEncoder folder_encoder(const std::string& dir, const ModelSpec& spec);

struct ExplainerEntry {
  std::string name, method;
  std::unique_ptr<Explainer> impl;
};

struct Plan {
  std::string config_path, name, out_dir;
  std::string output_where;  // "exp.yaml:3: output: " for messages about the output folder
  std::vector<ModelEntry> models;
  // The experiment's `dataset` (first, when given) and each models[].dataset; a model reads the
  // one its ModelEntry::dataset points to, so a text model and an image model can share a run.
  std::vector<std::unique_ptr<Dataset>> datasets;
  std::vector<ExplainerEntry> explainers;
  double iq_lo = 25, iq_hi = 75;
  // outputs.overlays: each image sample's explanation drawn over its image, one PNG per model,
  // explainer and sample under <output>/overlays/<model>/<explainer>/<id>.png.
  bool overlays = false;
  // outputs.trees: AttAttr's attribution tree of every sample as an SVG, for attattr explainers
  // with tree: true, under <output>/trees/<model>/<explainer>/<id>.svg.
  bool trees = false;
  // metrics.perturbation: Chefer's positive and negative perturbation test for every explanation
  // (framework/eval/perturbation.h): true, or {steps, batch_size}.
  PerturbationSettings perturbation_test;
  // metrics.pruning: AttAttr's head-pruning experiment after the merge (pruning_stage.h): true, or
  // {explainer (attattr), steps (20)}.
  PruningSettings pruning;          // "exp.yaml:9: metrics.perturbation: "
  std::string device = "auto";      // runtime.device as written (resolved per rank)
  std::string collectives = "mpi";  // runtime.collectives: mpi | nccl
  int64_t threads = 0;
  double rank_timeout = 60;  // runtime.rank_timeout: seconds before a silent rank counts as dead
  int64_t flush_every = 20;
  double flush_seconds = 60;
  // runtime.memory_budget: "auto" (90% of the available memory on the CPU), a size ("12GB") or a
  // percentage ("80%"); per node, shared by its ranks (framework/run/memory_plan.h).
  std::string memory_budget = "auto";
  std::string memory_budget_where;
  double memory_budget_fraction = 0.9;  // of the available memory ("auto", "80%")
  int64_t memory_budget_bytes = 0;      // a size ("12GB"); 0 = a fraction
  // runtime.weights: resident (the whole model in memory), streamed (forward-only methods that can
  // run layer-major read each layer's weights from the mapped checkpoint and drop them after it),
  // or auto (streamed where resident would not fit the budget).
  std::string weights = "auto";
  // runtime.host_memory: fast (the C library's heap keeps freed blocks under 8 MB) or compact
  // (blocks from 64 KB up go back to the OS when freed: resident memory tracks live tensors, a
  // little slower); framework/common/host_memory.h. Applied by the run before any work.
  HostMemory host_memory = HostMemory::kFast;
  // Set by the memory planner: "model/explainer" -> bytes of residual streams a layer-major
  // explanation may hold; and the models whose weights are streamed (not prefaulted at load).
  std::map<std::string, int64_t> layer_major;
  std::set<std::string> streamed_models;
  int64_t disk_headroom_mb = 16;  // runtime.disk_headroom_mb: free space a flush leaves (0 = off)
  Progress::Mode progress = Progress::Mode::kAuto;
  int64_t perturbation = 1;  // parallel.perturbation: replicas per perturbation group
  // parallel.tensor: consecutive ranks that hold one model replica together (tensor parallelism,
  // framework/model/tensor_parallel.h); 1 = every rank holds whole models.
  int64_t tensor = 1;
  std::string tensor_where;  // "exp.yaml:12: parallel.tensor: " for messages
  std::string resolved_yaml, resolved_json;
  std::vector<std::string> warnings;  // said once by rank 0 before the run starts
};

// The run's leave-one-out reference: its first explainer whose method is occlusion (every other
// explainer's rows get their rank correlation with it), or null.
const ExplainerEntry* occlusion_reference(const Plan& plan);

// Reads and checks the whole experiment (every key, every explainer's parameters, the model
// folders, the dataset) before any work; `path` names it in errors.
Plan read_plan(const Config& cfg, const std::string& path);
Plan read_plan(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace xai
