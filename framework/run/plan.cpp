#include "framework/run/plan.h"

#include <filesystem>
#include <set>

#include "framework/common/error.h"
#include "framework/common/threads.h"
#include "framework/config/config.h"
#include "framework/io/results.h"
#include "framework/model/family.h"
#include "framework/model/synthetic.h"
#include "framework/model/tensor_parallel.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

void read_synthetic(const ConfigNode& n, ModelEntry& e) {
  ModelShape shape;
  shape.family = n.get_choice("family", shape.family, {"gpt2", "llama", "gpt_neox", "gptj"});
  shape.layers = n.get_int("layers", shape.layers);
  shape.hidden = n.get_int("hidden", shape.hidden);
  shape.heads = n.get_int("heads", shape.heads);
  shape.kv_heads = n.get_int("kv_heads", 0);
  shape.head_dim = n.get_int("head_dim", 0);
  shape.intermediate = n.get_int("intermediate", 0);
  shape.vocab = n.get_int("vocab", shape.vocab);
  shape.max_positions = n.get_int("max_positions", shape.max_positions);
  const int64_t seed = n.get_int("seed", 0);
  XAI_CHECK(seed >= 0, n.where("seed"), "must not be negative (got ", seed, ")");
  e.seed = static_cast<uint64_t>(seed);
  e.synthetic_dtype = n.get_choice("dtype", "float32", {"float32", "bfloat16", "float16"});
  const std::string where = n.where("family");
  // "exp.yaml:4: models[0].synthetic.family: " -> "exp.yaml:4: models[0].synthetic: "
  e.spec =
      shape_spec(shape, where.substr(0, where.size() - std::string(".family: ").size()) + ": ");
  n.finish();
}

}  // namespace

std::unique_ptr<Model> load_entry_model(const ModelEntry& m, const at::Device& device,
                                        const std::string& where, bool prefault,
                                        const TensorGroup* tensor_group) {
  LoadOptions load;
  load.device = device;
  load.prefault = prefault;
  load.tensor_group = tensor_group;
  load.dtype = weights_dtype(m.dtype, where + ".dtype: ");
  if (!m.synthetic) return load_model(m.path, load);
  const at::ScalarType dtype =
      load.dtype ? *load.dtype : *weights_dtype(m.synthetic_dtype, where + ".synthetic.dtype: ");
  XAI_CHECK(!(dtype == at::kHalf && device.is_cpu()), where,
            ": float16 weights on the CPU: LibTorch's CPU kernels lack half-precision matmuls "
            "(HINT: bfloat16 or float32 on the CPU)");
  return make_synthetic_model(m.spec, m.seed, load, dtype);
}

ModelSpec entry_spec(const ModelEntry& m) {
  return m.synthetic ? m.spec : read_model_config((fs::path(m.path) / "config.json").string());
}

SampleEncoder folder_encoder(const std::string& dir, const ModelSpec& spec) {
  if (reads_images(spec)) {
    const std::string path = (fs::path(dir) / "preprocessor_config.json").string();
    return SampleEncoder(ImageProcessor::from_file(path), {spec.image_size, spec.patch_size});
  }
  const std::string tok_path = (fs::path(dir) / "tokenizer.json").string();
  XAI_CHECK(fs::exists(tok_path), tok_path, ": not found (every model folder needs its tokenizer)");
  return SampleEncoder(Tokenizer::from_file(tok_path));
}

SampleEncoder entry_encoder(const ModelEntry& m) {
  if (m.synthetic) {
    return SampleEncoder(Tokenizer::from_json_text(synthetic_tokenizer_json(), m.name));
  }
  return folder_encoder(m.path, entry_spec(m));
}

const ExplainerEntry* occlusion_reference(const Plan& plan) {
  for (const ExplainerEntry& x : plan.explainers) {
    if (x.method == "occlusion") return &x;
  }
  return nullptr;
}

// metrics.perturbation.removal: replace needs its token in every model before any work (else
// every explanation of the run would fail at its metrics), resolved as each sample will resolve
// it (methods/removal.h). Image models replace nothing, and are refused.
void check_replacement(const Plan& p, const ConfigNode& pert) {
  for (const ModelEntry& m : p.models) {
    const ModelSpec spec = entry_spec(m);
    XAI_CHECK(!reads_images(spec), pert.where("removal"), "replace replaces a token, and ", m.name,
              " reads images (HINT: removal: drop, zero or attention)");
    const SampleEncoder encoder = entry_encoder(m);
    const Tokenizer& tok = encoder.tokenizer();
    replacement_id(p.perturbation_test.token, spec, tok.unk_or_pad_id(), tok.mask_id(),
                   pert.where("token") + m.name);
  }
}

Plan read_plan(const Config& cfg, const std::string& path) {
  ConfigNode root = cfg.root();
  Plan p;
  p.config_path = path;
  p.name = root.get_string("name", fs::path(path).stem().string());
  p.out_dir = root.get_string("output", "out/" + p.name);
  p.output_where = root.where("output");

  std::set<std::string> names;
  for (const ConfigNode& m : root.children("models")) {
    ModelEntry e;
    e.synthetic = m.is_mapping("synthetic");
    if (e.synthetic) {
      XAI_CHECK(!m.has("path"), m.where("path"),
                "a model has a path or a synthetic shape, not both");
      e.name = m.require_string("name");
      read_synthetic(m.child("synthetic"), e);
    } else {
      XAI_CHECK(!m.has("synthetic"), m.where("synthetic"),
                "must be a mapping {family, layers, hidden, heads, ...}");
      e.path = m.require_string("path");
      e.name = m.get_string("name", fs::path(e.path).filename().string());
    }
    validate_name(e.name, m.where("name"));
    e.dtype = m.get_choice("dtype", e.dtype, {"auto", "float32", "bfloat16", "float16"});
    e.dtype_where = m.where("dtype");
    XAI_CHECK(names.insert(e.name).second, m.where("name"), "model name '", e.name,
              "' is used twice");
    XAI_CHECK(e.synthetic || fs::is_directory(e.path), m.where("path"), "'", e.path,
              "' is not a folder (paths are relative to the working directory)");
    if (m.has("dataset")) {  // this model's own samples (e.g. images beside a text model)
      const ConfigNode own = m.child("dataset");
      p.datasets.push_back(open_dataset(own));
      own.finish();
      e.dataset = p.datasets.back().get();
      e.own_dataset = true;
    }
    m.finish();
    p.models.push_back(e);
  }
  XAI_CHECK(!p.models.empty(), path, ": models: at least one model is required, e.g.\n",
            "models:\n  - {name: toy_gpt2, path: datasets/toy/models/toy_gpt2}");

  // The experiment's dataset: every model without its own reads it (required unless each has one).
  bool all_own = true;
  for (size_t i = 0; i < p.models.size(); ++i) {
    const ModelEntry& m = p.models[i];
    all_own = all_own && m.own_dataset;
    XAI_CHECK(m.own_dataset || root.has("dataset"), path, ": dataset: required: models[", i, "] (",
              m.name,
              ") has no dataset of its own (HINT: a top-level dataset: "
              "{type: ...}, or models[",
              i, "].dataset)");
  }
  if (!all_own || root.has("dataset")) {
    const ConfigNode dataset = root.child("dataset");
    p.datasets.insert(p.datasets.begin(), open_dataset(dataset));
    dataset.finish();
    for (ModelEntry& m : p.models) {
      if (!m.own_dataset) m.dataset = p.datasets.front().get();
    }
    if (all_own) {
      p.warnings.push_back(
          str_cat(root.where("dataset"), "every model has its own dataset: this one is not read"));
    }
  }

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
    if (!x.impl->granularity().token()) {  // segments group the tokens of a text
      for (const ModelEntry& m : p.models) {
        XAI_CHECK(!reads_images(entry_spec(m)), e.where("granularity"), "'",
                  x.impl->granularity().name(), "' groups the tokens of a text, and ", m.name,
                  " reads images (HINT: granularity: token; an image is explained per patch)");
      }
    }
    p.explainers.push_back(std::move(x));
  }
  XAI_CHECK(!p.explainers.empty(), path, ": explainers: at least one explainer is required");

  const ConfigNode metrics = root.child("metrics");
  const auto band = metrics.get_double_list("iq_band", {25, 75});
  XAI_CHECK(band.size() == 2 && band[0] >= 0 && band[0] < band[1] && band[1] <= 100,
            metrics.where("iq_band"), "must be two percentiles [lo, hi] with 0 <= lo < hi <= 100");
  p.iq_lo = band[0];
  p.iq_hi = band[1];
  if (metrics.is_mapping("perturbation")) {
    const ConfigNode pert = metrics.child("perturbation");
    p.perturbation_test.enabled = true;
    p.perturbation_test.steps = pert.get_int("steps", p.perturbation_test.steps);
    XAI_CHECK(p.perturbation_test.steps >= 2 && p.perturbation_test.steps <= 100,
              pert.where("steps"), "must be 2 to 100 removal steps (got ",
              p.perturbation_test.steps, ")");
    p.perturbation_test.batch_size = pert.get_int("batch_size", p.perturbation_test.batch_size);
    XAI_CHECK(p.perturbation_test.batch_size >= 1, pert.where("batch_size"), "must be at least 1");
    p.perturbation_test.removal = read_removal(pert, "removal", p.perturbation_test.token);
    if (p.perturbation_test.removal == Removal::kReplace) check_replacement(p, pert);
    const std::vector<int64_t> eraser = p.perturbation_test.eraser;
    p.perturbation_test.eraser = pert.get_int_list("eraser", eraser);
    for (int64_t k : p.perturbation_test.eraser) {
      XAI_CHECK(k >= 1 && k <= 100, pert.where("eraser"),
                "must be whole percentages from 1 to 100 (got ", k, ")");
    }
    pert.finish();
  } else {
    p.perturbation_test.enabled = metrics.get_bool("perturbation", false);
  }
  if (metrics.is_mapping("pruning")) {
    const ConfigNode pr = metrics.child("pruning");
    p.pruning.enabled = true;
    p.pruning.explainer = pr.get_string("explainer", p.pruning.explainer);
    p.pruning.steps = pr.get_int("steps", p.pruning.steps);
    XAI_CHECK(p.pruning.steps >= 2 && p.pruning.steps <= 1000, pr.where("steps"),
              "must be 2 to 1000 points (got ", p.pruning.steps, ")");
    for (const ModelEntry& m : p.models) {
      XAI_CHECK(m.dataset->generated_tokens() == 0, metrics.where("pruning"),
                "head pruning scores the dataset's own targets, and ", m.name,
                "'s are generated (HINT: dataset.target: given for the pruning run)");
    }
    pr.finish();
  } else {
    p.pruning.enabled = metrics.get_bool("pruning", false);
  }
  if (p.pruning.enabled) {
    const std::string where = metrics.where("pruning");
    const ExplainerEntry* named = nullptr;
    for (const ExplainerEntry& x : p.explainers) {
      if (x.name == p.pruning.explainer) named = &x;
    }
    XAI_CHECK(named != nullptr, where, "ranks heads by explainer '", p.pruning.explainer,
              "', which the experiment does not have (HINT: add {name: attattr} to explainers, or "
              "set metrics.pruning.explainer)");
    XAI_CHECK(named->method == "attattr", where, "explainer '", named->name, "' is ", named->method,
              ", and only attattr gives head importances");
  }
  metrics.finish();

  const ConfigNode outputs = root.child("outputs");
  p.overlays = outputs.get_bool("overlays", false);
  p.trees = outputs.get_bool("trees", false);
  outputs.finish();

  const ConfigNode rt = root.child("runtime");
  p.device = rt.get_string("device", "auto");
  p.collectives = rt.get_choice("collectives", "mpi", {"mpi", "nccl"});
  for (const ModelEntry& m : p.models) {
    XAI_CHECK(!(m.dtype == "float16" && p.device == "cpu"), m.dtype_where,
              "float16 needs a GPU: LibTorch's CPU kernels lack half-precision matmuls (HINT: "
              "bfloat16 or float32 on the CPU)");
  }
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
  p.disk_headroom_mb = rt.get_int("disk_headroom_mb", p.disk_headroom_mb);
  XAI_CHECK(p.disk_headroom_mb >= 0, rt.where("disk_headroom_mb"), "must be >= 0 (got ",
            p.disk_headroom_mb, "; 0 = no free-space check)");
  p.weights = rt.get_choice("weights", "auto", {"auto", "resident", "streamed"});
  p.host_memory = rt.get_choice("host_memory", "fast", {"fast", "compact"}) == "compact"
                      ? HostMemory::kCompact
                      : HostMemory::kFast;
  p.memory_budget = rt.get_string("memory_budget", "auto");
  p.memory_budget_where = rt.where("memory_budget");
  if (p.memory_budget != "auto") {
    const std::string& b = p.memory_budget;
    if (!b.empty() && b.back() == '%') {
      double pct = -1;
      try {
        size_t used = 0;
        pct = std::stod(b.substr(0, b.size() - 1), &used);
        if (used + 1 != b.size()) pct = -1;
      } catch (const std::exception&) {
        pct = -1;
      }
      XAI_CHECK(pct > 0 && pct <= 100, p.memory_budget_where, "'", b,
                "' is not a percentage in (0, 100]");
      p.memory_budget_fraction = pct / 100.0;
    } else {
      p.memory_budget_bytes = parse_byte_size(b, p.memory_budget_where);
      XAI_CHECK(p.memory_budget_bytes > 0, p.memory_budget_where, "must be positive");
    }
  }
  p.progress =
      Progress::parse_mode(rt.get_choice("progress", "auto", {"auto", "bar", "lines", "off"}));
  rt.finish();

  const ConfigNode par = root.child("parallel");
  p.perturbation = par.get_int("perturbation", 1);
  XAI_CHECK(p.perturbation >= 1, par.where("perturbation"), "must be >= 1 (got ", p.perturbation,
            ")");
  p.tensor = par.get_int("tensor", 1);
  p.tensor_where = par.where("tensor");
  XAI_CHECK(p.tensor >= 1, p.tensor_where, "must be >= 1 (got ", p.tensor, ")");
  if (p.tensor > 1) {
    // Every model must split over the group: heads, key/value heads, MLP width, vocabulary.
    for (size_t i = 0; i < p.models.size(); ++i) {
      const std::string where = p.tensor_where.substr(0, p.tensor_where.size() - 2);
      try {
        TensorSplit::make(entry_spec(p.models[i]), 0, static_cast<int>(p.tensor), where);
      } catch (const Error& e) {
        throw Error(str_cat(e.what(), " (model ", p.models[i].name, ")"));
      }
    }
  }
  par.finish();

  root.finish();
  cfg.finish_all();
  p.resolved_yaml = cfg.resolved_yaml();
  p.resolved_json = cfg.resolved_json();
  return p;
}

Plan read_plan(const std::string& path, const std::vector<std::string>& overrides) {
  return read_plan(Config::load(path, overrides), path);
}

}  // namespace xai
