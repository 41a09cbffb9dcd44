// The memory planner: before any weights are loaded, what each (model, explainer) of an experiment
// needs per rank on the run's longest sample (the weights, and one explanation beyond them as the
// method states it: Explainer::memory_need), against runtime.memory_budget. It lowers a batch knob
// the user left at its default until the pair fits, and refuses a pair that cannot fit with one
// line naming the model, the method, the need, the budget and the ways out. `xai run` applies it
// before any work; `xai plan` prints it.
#pragma once

#include <ATen/Device.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/model/memory.h"
#include "framework/run/plan.h"

namespace xai {

struct MemoryPlanRow {
  std::string model, explainer, method;
  int64_t tokens = 0;              // the model's longest sample (prompt and targets), T
  std::string longest_id;          // that sample's id
  int64_t longest_index = -1;      // and its index in the dataset (-1: no sample can be read)
  std::string dtype;               // the weights' dtype on this device
  double weights = 0;              // bytes
  double explanation = 0;          // bytes beyond the weights, at the chosen batch
  double fixed = 0, per_unit = 0;  // the method's need: fixed + per_unit x units
  std::string knob;                // "batch_size" or ""
  int64_t configured = 0;          // the knob as configured
  int64_t units = 0;               // as planned
  bool fits = true;
  bool streamed = false;          // runtime.weights: the weights read layer by layer (layer-major)
  int64_t layer_major_bytes = 0;  // then: residual streams held at once
  std::string refusal;            // the one line, when !fits
  ActivationBasis basis;          // the model's units on the longest sample (`xai plan --json`)
  int64_t targets = 1;            // that sample's target positions
  double total() const { return weights + explanation; }
};

struct MemoryPlan {
  std::string device;         // "cpu", "cuda:0"
  double budget = 0;          // bytes per rank; 0 = unknown (nothing is refused)
  std::string budget_source;  // "90% of 21.3 GB available", "runtime.memory_budget 12GB", ...
  std::vector<MemoryPlanRow> rows;
  std::vector<std::string> notes;  // "atman on gpt2: batch_size 8 -> 3 to fit"
  const MemoryPlanRow* first_refused() const;
};

// runtime.memory_budget as the plan holds it ("auto", "12GB", "80%") -> bytes per rank on
// `device`, with where the figure comes from; local_ranks share one node's memory.
double memory_budget_bytes(const Plan& plan, const at::Device& device, int local_ranks,
                           std::string* source);

// Tokenizes every sample for each model (samples that cannot be read are skipped: the run records
// them) and asks each explainer; reads only config.json and safetensors headers.
MemoryPlan plan_memory(const Plan& plan, const at::Device& device, int local_ranks);

// Sets each explainer's batch knob to the planned value (the same for every model: the smallest).
void apply_memory_plan(Plan& plan, const MemoryPlan& memory);

// The table `xai plan` prints.
std::string memory_plan_table(const MemoryPlan& memory);
// The same as JSON (`xai plan --json`): exact bytes, and each row's units (ActivationBasis), so
// scripts (scripts/fit_memory_plan.py) can refit the coefficients. `measured` holds, per row in
// the order of memory.rows, a JSON object to attach under "measured" (empty: none).
std::string memory_plan_json(const MemoryPlan& memory, const std::vector<std::string>& measured);

std::string human_bytes(double bytes);  // "1.5 GB" (decimal units, as budgets are written)

}  // namespace xai
