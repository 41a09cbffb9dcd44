// See pruning_stage.h.
#include "framework/run/pruning_stage.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/common/error.h"
#include "framework/eval/pruning.h"
#include "framework/io/hdf5.h"
#include "framework/io/results_reader.h"

namespace xai {
namespace {

// The mean over the explainer's rows of its head_importance extra (L * H), or empty when it has
// none.
std::vector<double> mean_head_importance(const ExplainerTable& t) {
  auto it = t.extras.find("head_importance");
  if (it == t.extras.end()) return {};
  std::vector<double> sum;
  int64_t rows = 0;
  for (size_t j = 0; j < t.rows(); ++j) {
    if (!it->second.has(j)) continue;
    const ExtraArray a = it->second.row(j);
    if (sum.empty()) sum.assign(a.values.size(), 0.0);
    if (a.values.size() != sum.size()) continue;
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += a.values[i];
    ++rows;
  }
  for (double& v : sum) v /= static_cast<double>(std::max<int64_t>(rows, 1));
  return sum;
}

void write_h5(const std::string& path, const std::string& model, const std::string& explainer,
              const PruningCurves& c) {
  h5::File f = h5::File::open(path, h5::Access::kReadWrite);
  h5::Group g = f.root().open_group("models/" + model);
  if (g.has("pruning")) return;  // written by an earlier pass over the same results
  h5::Group p = g.create_group("pruning");
  p.set_attr("explainer", explainer);
  p.set_attr("layers", c.layers);
  p.set_attr("heads", c.heads);
  p.set_attr("samples", c.samples);
  auto put = [&](const char* name, const std::vector<double>& v, int64_t width) {
    h5::ChunkSpec spec;
    spec.row_width = width;
    h5::Dataset d = p.create_dataset<double>(name, spec);
    d.append(v);
  };
  put("importance", c.importance, c.heads);
  put("attention", c.attention, c.heads);
  std::vector<double> pruned(c.pruned.begin(), c.pruned.end());
  put("heads_pruned", pruned, 1);
  put("accuracy_by_importance", c.accuracy_by_importance, 1);
  put("accuracy_by_attention", c.accuracy_by_attention, 1);
  std::vector<double> per_layer(c.pruned_per_layer.begin(), c.pruned_per_layer.end());
  put("heads_pruned_per_layer", per_layer, 1);
  put("per_layer_by_importance", c.per_layer_by_importance, 1);
  put("per_layer_by_attention", c.per_layer_by_attention, 1);
  f.close();
}

// The importances rank 0 read for model `m`, on every rank: empty when the model is skipped (said
// in `log` on rank 0).
std::vector<double> shared_importance(Communicator& comm, const std::string& results_h5,
                                      const std::string& model, const std::string& x,
                                      std::ostream& log) {
  nlohmann::json j = nlohmann::json::array();
  if (comm.rank() == 0) {
    const ResultsReader reader(results_h5);
    const auto models = reader.models();
    if (std::find(models.begin(), models.end(), model) != models.end()) {
      const auto ex = reader.explainers(model);
      if (std::find(ex.begin(), ex.end(), x) == ex.end()) {
        log << "xai run: pruning: " << x << " has no results on " << model << "; skipped\n";
      } else {
        j = mean_head_importance(reader.explainer(model, x));
        if (j.empty()) {
          log << "xai run: pruning: " << x << " stored no head_importance on " << model
              << " (HINT: metrics.pruning.explainer names an attattr explainer)\n";
        }
      }
    }
  }
  std::string bytes = j.dump();
  comm.broadcast(bytes, 0);
  return nlohmann::json::parse(bytes).get<std::vector<double>>();
}

void print_curves(std::ostream& log, const std::string& x, const std::vector<int64_t>& ks,
                  const std::vector<double>& by_importance, const std::vector<double>& by_attention,
                  const char* what) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "  %-22s", what);
  log << buf;
  for (int64_t k : ks) {
    std::snprintf(buf, sizeof(buf), " %4lld", static_cast<long long>(k));
    log << buf;
  }
  for (int which = 0; which < 2; ++which) {
    std::snprintf(buf, sizeof(buf), "\n  %-22s", which == 0 ? ("by " + x).c_str() : "by attention");
    log << buf;
    for (double a : which == 0 ? by_importance : by_attention) {
      std::snprintf(buf, sizeof(buf), " %4.0f", 100 * a);
      log << buf;
    }
  }
  log << "\n";
}

}  // namespace

void run_pruning_stage(Communicator& comm, const Plan& plan, const RunLayout& layout,
                       const std::string& results_h5, const std::string& results_json,
                       std::ostream& log) {
  namespace fs = std::filesystem;
  const std::string& x = plan.pruning.explainer;
  // Samples are dealt over the replicas (tensor parallelism: the `tensor` consecutive ranks of a
  // replica run the same samples with the split model); one rank per replica counts them.
  const World& w = layout.world;
  const int replica = w.replica(), replicas = w.replicas();
  const bool counts = w.tp_rank() == 0;
  const SumOverRanks sum = [&](std::vector<double>& v) {
    if (!counts) std::fill(v.begin(), v.end(), 0.0);
    comm.allreduce(v, ReduceOp::kSum);
  };
  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  for (size_t mi = 0; mi < plan.models.size(); ++mi) {
    const ModelEntry& m = plan.models[mi];
    const std::vector<double> importance = shared_importance(comm, results_h5, m.name, x, log);
    if (importance.empty()) continue;
    const ModelSpec spec = entry_spec(m);
    std::vector<Encoded> samples;
    {
      const SampleEncoder encoder = entry_encoder(m);
      for (int64_t i = 0; i < m.dataset->size(); ++i) {
        if (i % replicas != replica) continue;
        try {
          samples.push_back(encoder.encode(m.dataset->get(i), spec.max_positions, spec.labels));
        } catch (const std::exception&) {
          // A failed sample (recorded under /failures) has no importance either.
        }
      }
    }
    std::unique_ptr<Model> model;
    if (!samples.empty()) {
      model = load_entry_model(m, layout.device, "models[" + std::to_string(mi) + "]", true,
                               layout.tensor_group.get());
    }
    const PruningCurves c = pruning_curves(model.get(), samples, importance, spec.num_layers,
                                           spec.num_heads, plan.pruning.steps, sum);
    model.reset();
    if (comm.rank() != 0) continue;
    write_h5(results_h5, m.name, x, c);
    const std::string svg = (fs::path(plan.out_dir) / ("pruning_" + m.name + ".svg")).string();
    {
      std::ofstream out(svg);
      out << pruning_svg(
          c, "Head pruning on " + m.name + " (" + std::to_string(c.samples) + " samples)");
      XAI_CHECK(out.good(), svg, ": write failed");
    }
    all[m.name] = {{"explainer", x},
                   {"layers", c.layers},
                   {"heads", c.heads},
                   {"samples", c.samples},
                   {"importance", c.importance},
                   {"attention", c.attention},
                   {"heads_pruned", c.pruned},
                   {"accuracy_by_importance", c.accuracy_by_importance},
                   {"accuracy_by_attention", c.accuracy_by_attention},
                   {"heads_pruned_per_layer", c.pruned_per_layer},
                   {"per_layer_by_importance", c.per_layer_by_importance},
                   {"per_layer_by_attention", c.per_layer_by_attention},
                   {"svg", svg}};
    log << "pruning " << m.name << " (" << c.samples
        << " samples, heads least important first; accuracy %, " << svg << "):\n";
    print_curves(log, x, c.pruned, c.accuracy_by_importance, c.accuracy_by_attention,
                 "heads pruned");
    print_curves(log, x, c.pruned_per_layer, c.per_layer_by_importance, c.per_layer_by_attention,
                 "in every layer");
  }
  if (comm.rank() != 0 || all.empty()) return;
  nlohmann::ordered_json j;
  {
    std::ifstream in(results_json);
    j = nlohmann::ordered_json::parse(in);
  }
  j["pruning"] = all;
  std::ofstream out(results_json + ".tmp");
  out << j.dump(2) << "\n";
  out.close();
  XAI_CHECK(out.good(), results_json, ": write failed");
  fs::rename(results_json + ".tmp", results_json);
}

}  // namespace xai
