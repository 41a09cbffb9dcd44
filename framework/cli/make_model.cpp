// xai make-model: a synthetic model (deterministic random weights of any shape) written as a
// Hugging Face folder, for loader tests at size and for runs on big shapes without a download.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/model/synthetic.h"

namespace xai::cli {

int make_model(const std::vector<std::string>& argv) {
  Args args("make-model", argv,
            {"family", "layers", "hidden", "heads", "kv-heads", "head-dim", "intermediate", "vocab",
             "max-positions", "dtype", "seed", "shard-size"},
            {});
  XAI_CHECK(args.positional().size() == 1,
            "make-model: expected the output folder (HINT: xai make-model --family gptj "
            "--layers 28 --hidden 4096 --heads 16 --dtype bfloat16 models/gptj-6b-shape)");
  ModelShape shape;
  shape.family = args.get_or("family", shape.family);
  shape.layers = args.get_int("layers", shape.layers);
  shape.hidden = args.get_int("hidden", shape.hidden);
  shape.heads = args.get_int("heads", shape.heads);
  shape.kv_heads = args.get_int("kv-heads", 0);
  shape.head_dim = args.get_int("head-dim", 0);
  shape.intermediate = args.get_int("intermediate", 0);
  shape.vocab = args.get_int("vocab", shape.vocab);
  shape.max_positions = args.get_int("max-positions", shape.max_positions);
  const int64_t seed = args.get_int("seed", 0);
  XAI_CHECK(seed >= 0, "make-model: --seed must not be negative");
  const std::string dtype_name = args.get_or("dtype", "float32");
  const auto dtype = weights_dtype(dtype_name, "make-model: --dtype ");
  XAI_CHECK(dtype.has_value(), "make-model: --dtype must be float32, bfloat16 or float16");
  const int64_t shard =
      parse_byte_size(args.get_or("shard-size", "2GB"), "make-model: --shard-size ");
  const ModelSpec spec = shape_spec(shape, "make-model: --");
  const std::string dir = args.positional()[0];
  const auto t0 = std::chrono::steady_clock::now();
  const auto files =
      write_synthetic_model(dir, spec, static_cast<uint64_t>(seed), *dtype, shard);
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %s, %lld layers, %.3g B parameters in %s, %zu file(s), %.1f s\n",
              dir.c_str(), spec.model_type.c_str(), static_cast<long long>(spec.num_layers),
              static_cast<double>(spec.num_parameters()) / 1e9, dtype_name.c_str(), files.size(),
              s);
  return 0;
}

}  // namespace xai::cli
