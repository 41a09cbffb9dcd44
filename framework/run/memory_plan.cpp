#include "framework/run/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/common/error.h"
#include "framework/common/host_memory.h"
#include "framework/model/arch_registry.h"
#include "framework/model/memory.h"
#include "framework/model/synthetic.h"
#include "framework/model/tensor_parallel.h"
#include "framework/tensor_io/checkpoint.h"
#include "framework/text/encoded.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kForwardOnly = {"atman", "attention", "rollout", "random"};

bool forward_only(const std::string& method) {
  return std::find(kForwardOnly.begin(), kForwardOnly.end(), method) != kForwardOnly.end();
}

// The dtype a checkpoint's weights are stored in, by its first tensor, as a name.
std::string stored_dtype_name(const ModelEntry& m) {
  const Checkpoint ck = Checkpoint::open(m.path);
  const auto names = ck.names();
  if (names.empty()) return "float32";
  return weights_dtype_name(to_scalar_type(ck.info(names.front()).dtype));
}

// The weights' dtype the run will hold on `device` (load_model's rule), as a name; `stored` gives
// the checkpoint's own (read only when needed).
std::string run_dtype_name(const ModelEntry& m, const at::Device& device,
                           const std::function<std::string()>& stored) {
  if (m.dtype != "auto") return m.dtype;
  if (m.synthetic) return m.synthetic_dtype;
  if (device.is_cpu()) return "float32";
  return stored();
}

int64_t dtype_bytes(const std::string& name) { return name == "float32" ? 4 : 2; }

// Bytes of weights a layer-major run holds at once: everything outside the layers (embeddings,
// final norm, head) and the largest layer.
double streamed_weight_bytes(const ModelSpec& spec, double elem) {
  double outside = 0;
  std::map<int, double> layers;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    double n = 1;
    for (int64_t d : e.shape) n *= static_cast<double>(d);
    const int layer = tensor_layer(e.name);
    if (layer >= 0) {
      layers[layer] += n;
    } else {
      outside += n;
    }
  }
  double largest = 0;
  for (const auto& [l, n] : layers) largest = std::max(largest, n);
  return (outside + largest) * elem;
}

// Why the weights cannot be streamed on this device, or "" when they can: streaming drops the
// pages of a mapped checkpoint used in place, so it needs the CPU and a checkpoint stored in the
// run's dtype.
std::string cannot_stream(const ModelEntry& m, const at::Device& device, const std::string& dtype,
                          const std::function<std::string()>& stored) {
  if (!device.is_cpu()) return "streamed weights need the CPU for now";
  if (m.synthetic) return "a synthetic model lives in memory (write it with xai make-model)";
  if (stored() != dtype) {
    return str_cat("the checkpoint is stored in ", stored(), ", the run holds ", dtype,
                   " (streaming reads the stored weights in place)");
  }
  return "";
}

struct Longest {
  int64_t tokens = 0, targets = 1, index = -1;
  std::string id;
};

Longest longest_sample(const Plan& plan, const ModelEntry& m, const ModelSpec& spec) {
  const SampleEncoder encoder = entry_encoder(m);
  Longest l;
  for (int64_t i = 0; i < m.dataset->size(); ++i) {
    try {
      Sample sample = m.dataset->get(i);
      // A generated target: as long as it may grow (dataset.max_new_tokens).
      if (m.dataset->generated_tokens() > 0 && !encoder.images())
        sample.target_ids.assign(static_cast<size_t>(m.dataset->generated_tokens()), 0);
      const Encoded e = encoder.encode(sample, spec.max_positions, spec.labels);
      if (e.size() > l.tokens) {
        l.tokens = e.size();
        l.targets = std::max<int64_t>(1, e.num_targets());
        l.id = m.dataset->id(i);
        l.index = i;
      }
    } catch (const std::exception&) {
      // The run records it as a failed sample; it needs no memory.
    }
  }
  return l;
}

// The weights one rank holds when `k` ranks hold the model together (parallel.tensor): the split
// tensors' parts (rank 0's, the largest) and the replicated ones whole.
double rank_weight_bytes(const ModelSpec& spec, int k, double elem) {
  if (k == 1) return static_cast<double>(spec.num_parameters()) * elem;
  const TensorSplit split = TensorSplit::make(spec, 0, k, "parallel.tensor");
  double n = 0;
  for (const TensorEntry& e : tensor_table(spec)) {
    if (e.role != TensorRole::kTied) n += static_cast<double>(split.elements(e));
  }
  return n * elem;
}

// The smallest parallel.tensor above `k` under which the row fits the budget (weights split,
// the explanation counted whole: an upper bound), as a way out; "" when none up to 64 does.
std::string tensor_way(const MemoryPlanRow& r, const ModelSpec& spec, int k, double budget,
                       double elem) {
  for (int n = k + 1; n <= 64; ++n) {
    double w = 0;
    try {
      w = rank_weight_bytes(spec, n, elem);
    } catch (const Error&) {
      continue;  // n does not split this model
    }
    if (w + r.explanation <= budget) {
      return str_cat("parallel.tensor: ", n, " (", n, " ranks hold the model together, ",
                     human_bytes(w), " of weights each)");
    }
  }
  return "";
}

std::string refusal_line(const MemoryPlanRow& r, const MemoryPlan& mp, const MemoryNeed& need,
                         const std::string& tensor) {
  std::string ways;
  auto way = [&](const std::string& w) { ways += (ways.empty() ? "" : "; ") + w; };
  if (!tensor.empty()) way(tensor);
  if (r.dtype == "float32" && r.weights > 0.25 * r.total()) {
    way("bfloat16 weights (models[].dtype: bfloat16) halve the weights");
  }
  if (!need.knob.empty() && need.knob_given && need.units > 1) {
    way(str_cat("a smaller ", need.knob, " than ", need.units));
  }
  const bool explanation_matters = r.explanation > 0.25 * r.total();
  if (explanation_matters && r.longest_index >= 0) {
    way(str_cat("shorter inputs (the longest, sample '", r.longest_id, "', has ", r.tokens,
                " tokens)"));
  }
  if (explanation_matters && !forward_only(r.method)) {
    way("a forward-only method (atman, attention, rollout)");
  }
  if (!r.streamed && r.weights > 0.5 * r.total()) {
    way(forward_only(r.method)
            ? "runtime.weights: streamed (layer by layer from the mapped checkpoint, which must "
              "be stored in the run's dtype)"
            : "streamed weights (runtime.weights) serve the forward-only methods only (atman, "
              "attention, rollout)");
  }
  if (r.basis.heap_threshold > 0 && r.explanation > 0.25 * r.total()) {
    way("runtime.host_memory: compact (resident memory follows the live tensors: less of it, "
        "slower)");
  }
  way("a larger runtime.memory_budget if the machine has it");
  return str_cat("model ", r.model, ", explainer ", r.explainer, " (", r.method, "): needs ",
                 human_bytes(r.total()), " per rank (weights ", human_bytes(r.weights), " in ",
                 r.dtype, " + ", human_bytes(r.explanation), " for one explanation of ", r.tokens,
                 " tokens", r.knob.empty() ? "" : str_cat(" at ", r.knob, " ", r.units),
                 "), more than the budget of ", human_bytes(mp.budget), " (", mp.budget_source,
                 ") (HINT: ", ways, ")");
}

}  // namespace

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1f GB", b / 1e9);
  } else if (b >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.0f MB", b / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f kB", b / 1e3);
  }
  return buf;
}

const MemoryPlanRow* MemoryPlan::first_refused() const {
  for (const auto& r : rows) {
    if (!r.fits) return &r;
  }
  return nullptr;
}

double memory_budget_bytes(const Plan& plan, const at::Device& device, int local_ranks,
                           std::string* source) {
  const int ranks = std::max(1, local_ranks);
  const std::string shared = ranks > 1 ? str_cat(", shared by ", ranks, " ranks") : "";
  if (plan.memory_budget_bytes > 0) {
    *source = "runtime.memory_budget " + plan.memory_budget;
    return static_cast<double>(plan.memory_budget_bytes);
  }
  const double fraction = plan.memory_budget_fraction;
  if (!device.is_cpu()) {
    *source = "unknown: set runtime.memory_budget for a GPU";
    return 0;
  }
  const double available = static_cast<double>(available_memory_bytes());
  if (available <= 0) {
    *source = "unknown: no MemAvailable in /proc/meminfo";
    return 0;
  }
  *source = str_cat(static_cast<int>(fraction * 100 + 0.5), "% of ", human_bytes(available),
                    " available", shared);
  return fraction * available / ranks;
}

MemoryPlan plan_memory(const Plan& plan, const at::Device& device, int local_ranks) {
  MemoryPlan mp;
  mp.device = device.str();
  mp.budget = memory_budget_bytes(plan, device, local_ranks, &mp.budget_source);
  for (const ModelEntry& m : plan.models) {
    const ModelSpec spec = entry_spec(m);
    std::string stored;  // the checkpoint's dtype, read once when first needed
    auto stored_dtype = [&] {
      if (stored.empty()) stored = stored_dtype_name(m);
      return stored;
    };
    const std::string dtype = run_dtype_name(m, device, stored_dtype);
    const double elem = static_cast<double>(dtype_bytes(dtype));
    const int k = static_cast<int>(plan.tensor);
    const double weights = rank_weight_bytes(spec, k, elem);
    const Longest longest = longest_sample(plan, m, spec);
    if (longest.index < 0) {
      mp.notes.push_back(str_cat("no sample of ", m.dataset->source(), " can be read for ",
                                 m.name,
                                 " (the run records each as a failed sample); planned "
                                 "for the weights alone"));
    }
    MemoryQuery q;
    q.basis = activation_basis(spec, dtype_bytes(dtype), std::max<int64_t>(1, longest.tokens));
    if (k > 1) {
      // One rank of a tensor-parallel group computes its heads, MLP columns and vocabulary rows;
      // the residual stream is replicated. Attention maps stay whole: the methods that keep them
      // read them gathered (an upper bound for the others).
      const TensorSplit split = TensorSplit::make(spec, 0, k, "parallel.tensor");
      ModelSpec local = spec;
      local.num_heads = split.local_heads();
      local.num_kv_heads = split.local_kv_heads();
      local.intermediate_size = split.mlp().size();
      local.vocab_size = split.vocab_chunk();
      const ActivationBasis whole = q.basis;
      q.basis = activation_basis(local, dtype_bytes(dtype), std::max<int64_t>(1, longest.tokens));
      q.basis.scores = whole.scores;
      q.basis.heads = whole.heads;
    }
    q.basis.fused_attention = device.is_cpu() && dtype == "float32";
    // Tensors under the fast mode's mmap threshold live in the C library's heap and count times
    // the method's heap factor; with runtime.host_memory: compact (resident memory follows the
    // live tensors) and off the CPU every byte counts once.
    q.basis.heap_threshold = device.is_cpu() && plan.host_memory == HostMemory::kFast
                                 ? static_cast<double>(host_mmap_threshold(HostMemory::kFast))
                                 : 0.0;
    q.targets = longest.targets;
    for (const ExplainerEntry& x : plan.explainers) {
      MemoryPlanRow r;
      r.model = m.name;
      r.explainer = x.name;
      r.method = x.method;
      r.tokens = longest.tokens;
      r.longest_id = longest.id;
      r.longest_index = longest.index;
      r.dtype = dtype;
      r.weights = weights;
      r.basis = q.basis;
      r.targets = q.targets;
      const MemoryNeed need = x.impl->memory_need(q);
      r.knob = need.knob;
      r.fixed = need.fixed;
      r.per_unit = need.per_unit;
      r.configured = r.units = need.units;
      r.explanation = need.bytes();
      // Layer-major with streamed weights: asked for, or needed to fit (auto).
      const bool want_stream = plan.weights == "streamed" ||
                               (plan.weights == "auto" && mp.budget > 0 && r.total() > mp.budget);
      // The residual streams of one batch: the least a layer-major group holds.
      auto one_batch = [&](int64_t units) {
        return static_cast<double>(units) * static_cast<double>(longest.tokens * spec.hidden_size) *
               static_cast<double>(dtype_bytes(dtype));
      };
      if (want_stream && x.impl->runs_layer_major()) {
        const std::string why = cannot_stream(m, device, dtype, stored_dtype);
        if (why.empty()) {
          r.streamed = true;
          r.weights = streamed_weight_bytes(spec, static_cast<double>(dtype_bytes(dtype)));
          r.explanation = need.bytes() + one_batch(need.units);
        } else if (plan.weights == "streamed") {
          mp.notes.push_back(str_cat(x.name, " on ", m.name, ": weights kept resident: ", why));
        }
      }
      if (mp.budget > 0 && r.total() > mp.budget && !need.knob.empty() && !need.knob_given &&
          need.per_unit > 0) {
        // The largest batch under the budget, if any.
        const double per_unit = need.per_unit + (r.streamed ? one_batch(1) : 0.0);
        const double room = mp.budget - r.weights - need.fixed;
        const int64_t u = room > 0 ? static_cast<int64_t>(room / per_unit) : 0;
        if (u >= 1) {
          r.units = std::min(u, need.units);
          r.explanation = need.bytes(r.units) + (r.streamed ? one_batch(r.units) : 0.0);
          mp.notes.push_back(str_cat(x.name, " on ", m.name, ": ", need.knob, " ", need.units,
                                     " -> ", r.units, " to fit the memory budget"));
        }
      }
      if (r.streamed) {
        // A group of batches holds what is left of the budget (half of it), up to 1 GB.
        const double least = one_batch(r.units);
        const double left = mp.budget > 0 ? (mp.budget - r.total()) / 2 : 1e9;
        r.layer_major_bytes = static_cast<int64_t>(std::max(least, std::min(1e9, least + left)));
        r.explanation += static_cast<double>(r.layer_major_bytes) - least;
      }
      if (mp.budget > 0) {
        r.fits = r.total() <= mp.budget;
        if (!r.fits) r.refusal = refusal_line(r, mp, need, tensor_way(r, spec, k, mp.budget, elem));
      }
      mp.rows.push_back(r);
    }
  }
  return mp;
}

void apply_memory_plan(Plan& plan, const MemoryPlan& memory) {
  for (const auto& r : memory.rows) {
    if (!r.streamed) continue;
    plan.layer_major[r.model + "/" + r.explainer] = r.layer_major_bytes;
    plan.streamed_models.insert(r.model);
  }
  for (ExplainerEntry& x : plan.explainers) {
    int64_t units = 0;
    for (const auto& r : memory.rows) {
      if (r.explainer == x.name && !r.knob.empty() && r.units != r.configured) {
        units = units == 0 ? r.units : std::min(units, r.units);
      }
    }
    if (units > 0) x.impl->set_batch_units(units);
  }
}

std::string memory_plan_table(const MemoryPlan& mp) {
  std::ostringstream os;
  os << "device " << mp.device << ", budget per rank "
     << (mp.budget > 0 ? human_bytes(mp.budget) : std::string("unknown")) << " ("
     << mp.budget_source << ")\n\n";
  char line[512];
  std::snprintf(line, sizeof(line), "%-16s %-22s %6s %-9s %10s %12s %10s %-16s %s\n", "model",
                "explainer", "tokens", "dtype", "weights", "explanation", "total", "batch", "fits");
  os << line << std::string(112, '-') << "\n";
  for (const auto& r : mp.rows) {
    std::string batch = r.knob.empty() ? "-" : std::to_string(r.units);
    if (!r.knob.empty() && r.units != r.configured) {
      batch = str_cat(r.units, " (of ", r.configured, ")");
    }
    if (r.streamed) batch += ", streamed";
    std::snprintf(line, sizeof(line), "%-16s %-22s %6lld %-9s %10s %12s %10s %-16s %s\n",
                  r.model.c_str(), r.explainer.c_str(), static_cast<long long>(r.tokens),
                  r.dtype.c_str(), human_bytes(r.weights).c_str(),
                  human_bytes(r.explanation).c_str(), human_bytes(r.total()).c_str(), batch.c_str(),
                  mp.budget <= 0 ? "?"
                  : r.fits       ? "yes"
                                 : "NO");
    os << line;
  }
  for (const auto& n : mp.notes) os << "\n" << n;
  if (!mp.notes.empty()) os << "\n";
  return os.str();
}

std::string memory_plan_json(const MemoryPlan& mp, const std::vector<std::string>& measured) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["device"] = mp.device;
  j["budget"] = mp.budget;
  j["budget_source"] = mp.budget_source;
  j["rows"] = ordered_json::array();
  for (size_t i = 0; i < mp.rows.size(); ++i) {
    const MemoryPlanRow& r = mp.rows[i];
    const ActivationBasis& b = r.basis;
    ordered_json row;
    row["model"] = r.model;
    row["explainer"] = r.explainer;
    row["method"] = r.method;
    row["tokens"] = r.tokens;
    row["targets"] = r.targets;
    row["longest_id"] = r.longest_id;
    row["dtype"] = r.dtype;
    row["weights"] = r.weights;
    row["explanation"] = r.explanation;
    row["total"] = r.total();
    row["fixed"] = r.fixed;
    row["per_unit"] = r.per_unit;
    row["knob"] = r.knob;
    row["configured"] = r.configured;
    row["units"] = r.units;
    row["streamed"] = r.streamed;
    row["layer_major_bytes"] = r.layer_major_bytes;
    row["fits"] = mp.budget > 0 ? ordered_json(r.fits) : ordered_json(nullptr);
    row["refusal"] = r.refusal;
    row["basis"] = {{"layers", b.layers},
                    {"tokens", b.tokens},
                    {"heads", b.heads},
                    {"hidden", b.hidden},
                    {"mlp", b.mlp},
                    {"qkv", b.qkv},
                    {"forward", b.forward},
                    {"graph", b.graph},
                    {"scores", b.scores},
                    {"square", b.square},
                    {"kv", b.kv},
                    {"logit_row", b.logit_row},
                    {"fused_attention", b.fused_attention},
                    {"heap_threshold", b.heap_threshold},
                    {"block", b.block(r.units)},
                    {"inference_block", b.inference_block(r.units)}};
    if (i < measured.size() && !measured[i].empty()) {
      row["measured"] = ordered_json::parse(measured[i]);
    }
    j["rows"].push_back(row);
  }
  j["notes"] = mp.notes;
  return j.dump(2) + "\n";
}

}  // namespace xai
