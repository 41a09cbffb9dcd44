// xai plan: the memory plan of an experiment (framework/run/memory_plan.h) without loading any
// weights; --measure then runs one explanation per (model, explainer) on the longest sample and
// prints the measured peaks beside the estimate: resident memory as `xai run` measures it, and
// live tensor bytes (exact and repeatable). With parallel.tensor = k it runs on k ranks
// (mpirun -n k xai plan EXP --measure): each measures its part of one replica, rank 0 prints the
// largest rank's figures.
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device.h"
#include "framework/model/tensor_parallel.h"
#include "framework/run/memory_meter.h"
#include "framework/run/memory_plan.h"
#include "framework/text/encoded.h"

namespace xai::cli {
namespace {

// One explanation per row on its longest sample, each measured as `xai run` measures it. Prints
// the table unless `quiet`; returns, per row of `memory`, the measurement as a JSON object ("" for
// rows not measured).
std::vector<std::string> measure(Plan& plan, const MemoryPlan& memory, const at::Device& device,
                                 bool quiet, Communicator* comm, const TensorGroup* group) {
  // Tensor bytes are counted exactly from here on (MemoryMeter::count_tensor_allocations): the
  // second yardstick, the same every time, beside resident memory.
  MemoryMeter::count_tensor_allocations();
  std::vector<std::string> measured_json(memory.rows.size());
  if (!quiet) {
    std::printf("\n%-16s %-22s %12s %12s %8s %12s %8s\n", "model", "explainer", "estimate",
                "measured", "ratio", "tensors", "ratio");
  }
  // Resident weights: the explanation beyond them; streamed weights: everything (their pages
  // come and go with the layers), marked "+ weights".
  for (size_t mi = 0; mi < plan.models.size(); ++mi) {
    const ModelEntry& m = plan.models[mi];
    const MemoryPlanRow* first = nullptr;
    for (const auto& r : memory.rows) {
      if (r.model == m.name) {
        first = &r;
        break;
      }
    }
    if (first == nullptr || first->longest_index < 0) continue;
    bool streamed = false;
    for (const auto& r : memory.rows) streamed = streamed || (r.model == m.name && r.streamed);
    std::unique_ptr<Model> model =
        load_entry_model(m, device, "models[" + std::to_string(mi) + "]", !streamed, group);
    const Encoded enc = entry_encoder(m).encode(m.dataset->get(first->longest_index),
                                                model->spec().max_positions, model->spec().labels);
    MemoryMeter meter;
    for (ExplainerEntry& x : plan.explainers) {
      size_t ri = memory.rows.size();
      for (size_t i = 0; i < memory.rows.size(); ++i) {
        if (memory.rows[i].model == m.name && memory.rows[i].explainer == x.name) ri = i;
      }
      const MemoryPlanRow* row = &memory.rows[ri];
      ExplainContext ctx;
      ctx.layer_major = row->streamed;
      ctx.layer_major_bytes = row->layer_major_bytes;
      for (int l = 0; l < model->spec().num_layers; ++l) model->release_layer(l);
      meter.start();
      std::string measured, tensors = "-";
      double ratio = 0, tensor_ratio = 0;
      const double estimate = row->streamed ? row->total() : row->explanation;
      nlohmann::ordered_json j;
      j["estimate"] = estimate;
      try {
        x.impl->explain(*model, enc, ctx);
        std::vector<int64_t> peaks = {
            row->streamed ? meter.peak_total_extra_bytes() : meter.peak_extra_bytes(),
            meter.peak_tensor_extra_bytes()};
        if (comm != nullptr) comm->allreduce(peaks, ReduceOp::kMax);  // the largest rank's
        const double peak = static_cast<double>(peaks[0]);
        measured = human_bytes(peak);
        ratio = peak > 0 ? estimate / peak : 0;
        j["resident"] = peak;
        // Streamed weights are mapped, not allocated: the tensor peak is the explanation's alone.
        const double tensor_peak = static_cast<double>(peaks[1]);
        if (tensor_peak >= 0 && !row->streamed) {
          tensors = human_bytes(tensor_peak);
          tensor_ratio = tensor_peak > 0 ? estimate / tensor_peak : 0;
          j["tensors"] = tensor_peak;
        }
      } catch (const std::exception& e) {
        measured = "failed";
        j["error"] = e.what();
        std::cerr << "xai plan: " << x.name << " on " << m.name << ": " << e.what() << "\n";
      }
      measured_json[ri] = j.dump();
      if (!quiet) {
        std::printf("%-16s %-22s %12s %12s %8.2f %12s %8.2f%s\n", m.name.c_str(), x.name.c_str(),
                    human_bytes(estimate).c_str(), measured.c_str(), ratio, tensors.c_str(),
                    tensor_ratio, row->streamed ? "  (streamed: + weights)" : "");
      }
    }
  }
  return measured_json;
}

}  // namespace

int plan(const std::vector<std::string>& argv) {
  Args args("plan", argv, {"set", "ranks-per-node", "threads"}, {"measure", "json"});
  const bool json = args.flag("json");
  XAI_CHECK(args.positional().size() == 1,
            "plan: give exactly one experiment YAML (HINT: xai plan configs/demo.yaml)");
  const std::string path = args.positional()[0];
  Plan plan = read_plan(path, args.get_all("set"));
  tune_host_allocator(plan.host_memory);  // as the run does: the planner counts with it
  DeviceInventory inventory;
  inventory.cuda_built = at::Context::hasCUDART();
  inventory.cuda_devices = static_cast<int>(torch::cuda::device_count());
  const World world;
  const at::Device device(resolve_device(plan.device, inventory, world, path + ": runtime.device"));
  const int64_t ranks = args.get_int("ranks-per-node", 1);
  XAI_CHECK(ranks >= 1, "plan: --ranks-per-node must be >= 1");
  const MemoryPlan memory = plan_memory(plan, device, static_cast<int>(ranks));
  // parallel.tensor = k: the k ranks of one replica measure it together; rank 0 prints.
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<TensorGroup> group;
  if (plan.tensor > 1 && args.flag("measure")) {
    comm = make_communicator();
    XAI_CHECK(comm->size() == plan.tensor, plan.tensor_where, "xai plan --measure measures one ",
              plan.tensor, "-rank replica: launch it on ", plan.tensor, " ranks (HINT: mpirun -n ",
              plan.tensor, " xai plan ... --measure)");
    group = std::make_unique<TensorGroup>(*comm);
  }
  const bool root = !comm || comm->rank() == 0;
  if (!json && root) std::cout << memory_plan_table(memory);
  const MemoryPlanRow* refused = memory.first_refused();
  if (refused != nullptr && root) {
    std::cerr << "xai plan: " << path << ": " << refused->refusal << "\n";
  }
  std::vector<std::string> measured;
  if (refused == nullptr && args.flag("measure")) {
    const int64_t threads = args.get_int("threads", plan.threads);
    if (threads > 0) at::set_num_threads(static_cast<int>(threads));
    apply_memory_plan(plan, memory);
    measured = measure(plan, memory, device, json || !root, comm.get(), group.get());
  }
  if (!root) return refused != nullptr ? 1 : 0;
  if (json) std::cout << memory_plan_json(memory, measured);
  return refused != nullptr ? 1 : 0;
}

}  // namespace xai::cli
