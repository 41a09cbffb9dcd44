#include <filesystem>
#include <fstream>
#include <iostream>

#include "framework/common/error.h"
#include "framework/common/host_memory.h"
#include "framework/model/arch_registry.h"
#include "framework/model/transformer.h"
#include "framework/model/family.h"
#include "framework/tensor_io/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

namespace xai {
namespace {

void check_device(const LoadOptions& options) {
  if (options.device.is_cuda() && !at::hasCUDA()) {
    throw Error(str_cat("device '", options.device.str(),
                        "': this build of LibTorch has no CUDA "
                        "(HINT: build xai against a CUDA LibTorch, see docs/models.md 'GPU builds')"));
  }
}


std::string shape_str(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::unique_ptr<Model> make_family_model(const ModelSpec& spec, const WeightFn& weights,
                                        const LoadOptions& options, at::ScalarType dtype) {
  check_activation_supported(spec);
  return family_row(spec.family).make(spec, weights, options, dtype);
}

c10::optional<at::ScalarType> weights_dtype(const std::string& name, const std::string& where) {
  if (name == "auto") return c10::nullopt;
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throw Error(
      str_cat(where, "'", name, "' is not a weights dtype (auto, float32, bfloat16, float16)"));
}

const char* weights_dtype_name(at::ScalarType dtype) {
  return dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
  namespace fs = std::filesystem;
  check_device(options);
  if (!fs::is_directory(dir)) {
    throw Error(str_cat(dir,
                        ": model folder does not exist (HINT: a Hugging Face checkpoint "
                        "folder with config.json and model.safetensors)"));
  }
  ModelSpec spec = read_model_config((fs::path(dir) / "config.json").string());
  check_activation_supported(spec);
  Checkpoint ck = Checkpoint::open(dir);
  CheckpointBinding binding = bind_checkpoint(ck, spec);
  if (!binding.unknown.empty()) {
    std::cerr << "xai: warning: " << dir << ": " << binding.unknown.size()
              << " checkpoint tensor(s) not used by " << spec.model_type << ", e.g. '"
              << binding.unknown.front() << "'\n";
  }
  // fp32 on CPU; on an accelerator keep the checkpoint's floating dtype.
  const at::ScalarType stored = to_scalar_type(ck.info(binding.names.begin()->second).dtype);
  at::ScalarType dtype = at::kFloat;
  if (options.dtype) {
    dtype = *options.dtype;
    XAI_CHECK(!(dtype == at::kHalf && options.device.is_cpu()), dir,
              ": float16 weights on the CPU: LibTorch's CPU kernels lack half-precision matmuls "
              "(HINT: bfloat16 or float32 on the CPU; float16 on a GPU)");
  } else if (!options.device.is_cpu()) {
    dtype = stored;
  }
  auto source = [&](const std::string& name) {
    auto it = binding.names.find(name);
    XAI_CHECK(it != binding.names.end(), dir, ": internal: tensor '", name, "' was not bound");
    return ck.get(it->second);
  };
  std::unique_ptr<Model> model = make_family_model(spec, source, options, dtype);
  // On the CPU, weights already in the model's dtype are used in place, as views of the mapped
  // files: read them now, so that the first explanation's seconds and peak memory do not include
  // paging them in. Not when they would take more than half of the free memory (the kernel then
  // pages them in and out as layers run: a model larger than memory still runs). Nor under tensor
  // parallelism: the files hold every rank's parts, and each rank reads only its own as it runs.
  const long long free = available_memory_bytes();
  const bool part = options.tensor_group != nullptr && model->tensor_parallel() > 1;
  if (options.prefault && !part && options.device.is_cpu() && stored == dtype && free > 0 &&
      static_cast<long long>(ck.total_file_bytes()) <= free / 2) {
    ck.prefault();
  }
  return model;
}

std::unique_ptr<Model> build_model(const ModelSpec& spec, const TensorMap& weights,
                                   const LoadOptions& options) {
  check_device(options);
  std::vector<std::string> problems;
  for (const auto& e : tensor_table(spec)) {
    auto it = weights.find(e.name);
    if (it == weights.end()) {
      if (e.role == TensorRole::kRequired) problems.push_back("missing '" + e.name + "'");
      continue;
    }
    if (it->second.sizes() != at::IntArrayRef(e.shape)) {
      problems.push_back(str_cat("'", e.name, "' has shape ", shape_str(it->second.sizes()),
                                 ", the spec implies ", shape_str(e.shape)));
    }
  }
  if (!problems.empty()) {
    std::string msg = "build_model: weights do not match the spec:";
    for (size_t i = 0; i < problems.size() && i < 6; ++i) msg += (i ? "; " : " ") + problems[i];
    throw Error(msg);
  }
  const at::ScalarType dtype =
      options.dtype
          ? *options.dtype
          : (options.device.is_cpu() ? at::kFloat : weights.begin()->second.scalar_type());
  auto source = [&](const std::string& name) { return weights.at(name); };
  return make_family_model(spec, source, options, dtype);
}

TensorMap init_weights(const ModelSpec& spec, double std, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  TensorMap out;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    const bool bias = e.name.size() > 5 && e.name.compare(e.name.size() - 5, 5, ".bias") == 0;
    const bool norm = e.shape.size() == 1 && !bias;  // every 1-D weight is a norm scale
    at::Tensor t;
    if (bias) {
      t = at::zeros(e.shape);
    } else if (norm) {
      t = at::ones(e.shape);
    } else {
      t = at::empty(e.shape).normal_(0.0, std, gen);
    }
    out[e.name] = t;
  }
  return out;
}

void save_model(const std::string& dir, const ModelSpec& spec, const TensorMap& weights) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    auto it = weights.find(e.name);
    XAI_CHECK(it != weights.end(), "save_model: missing weight '", e.name, "'");
    tensors.emplace_back(e.name, it->second.detach().to(at::kCPU, at::kFloat));
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  const std::string cfg = (fs::path(dir) / "config.json").string();
  std::ofstream out(cfg + ".tmp");
  out << model_config_json(spec) << "\n";
  out.close();
  XAI_CHECK(out.good(), cfg, ": write failed");
  fs::rename(cfg + ".tmp", cfg);
}

}  // namespace xai
