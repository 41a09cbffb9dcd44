#include <filesystem>
#include <iostream>

#include "framework/common/error.h"
#include "framework/model/arch_registry.h"
#include "framework/model/decoder.h"
#include "framework/tensor_io/checkpoint.h"

namespace xai {

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw Error(str_cat(dir,
                        ": model folder does not exist (HINT: a Hugging Face checkpoint "
                        "folder with config.json and model.safetensors)"));
  }
  if (options.device.is_cuda() && !at::hasCUDA()) {
    throw Error(str_cat("device '", options.device.str(),
                        "': this build of LibTorch has no CUDA "
                        "(HINT: build xai against a CUDA LibTorch, see README 'GPU builds')"));
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
  at::ScalarType dtype = at::kFloat;
  if (options.dtype) {
    dtype = *options.dtype;
  } else if (!options.device.is_cpu()) {
    dtype = to_scalar_type(ck.info(binding.names.begin()->second).dtype);
  }
  switch (spec.family) {
    case Family::kGpt2:
      return make_gpt2(spec, ck, binding, options, dtype);
    case Family::kLlama:
      return make_llama(spec, ck, binding, options, dtype);
  }
  throw Error("internal: unknown family");
}

}  // namespace xai
