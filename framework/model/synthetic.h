// Models of any shape with deterministic random weights and no checkpoint ("synthetic" models):
// the scaling experiment, loader tests at size and memory measurements need a model of a given
// shape, not a trained one (the AtMan paper stacked GPT-J layers the same way).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "framework/model/model.h"
#include "framework/model/model_spec.h"

namespace xai {

// A family and its sizes; every 0 takes the family's usual value.
struct ModelShape {
  std::string family = "gpt2";  // gpt2 | llama | gpt_neox | gptj | bert | roberta
  int64_t layers = 2;
  int64_t hidden = 64;
  int64_t heads = 4;
  int64_t kv_heads = 0;      // 0 = heads (grouped-query attention: llama only)
  int64_t head_dim = 0;      // 0 = hidden / heads (another width: llama only)
  int64_t intermediate = 0;  // 0 = 4 x hidden; llama: 8/3 x hidden rounded up to 256
  int64_t vocab = 50304;
  int64_t max_positions = 2048;
  int tie_embeddings = -1;  // -1 = the family's default (tied for gpt2 only)
  double rope_theta = 10000.0;
};

// The spec a Hugging Face config.json of that family and shape would give (built through
// model_config_json and parse_model_config, so the same checks and defaults apply). Throws
// xai::Error prefixed by `where` ("exp.yaml:4: models[0].synthetic: ") naming the bad size.
ModelSpec shape_spec(const ModelShape& shape, const std::string& where);

// One tensor of a synthetic model, in float32 on the CPU: N(0, 0.02) for matrices and embeddings,
// ones for norm scales, zeros for biases, drawn from a generator seeded by (seed, canonical name),
// so a tensor is the same whatever the order it is made in, the device or the dtype.
at::Tensor synthetic_tensor(const ModelSpec& spec, const std::string& canonical, uint64_t seed);

// The model itself, built tensor by tensor in `dtype` on options.device (the float32 draw of one
// tensor at a time is the only extra memory).
std::unique_ptr<Model> make_synthetic_model(const ModelSpec& spec, uint64_t seed,
                                            const LoadOptions& options, at::ScalarType dtype);

// The tokenizer of synthetic models: byte-level, the 256 byte symbols after <|endoftext|> (id 0,
// put before every sequence); one token per byte of text. Deterministic text.
const std::string& synthetic_tokenizer_json();

// Writes the model as a Hugging Face folder (config.json, tokenizer.json and model.safetensors,
// or model-0000k-of-0000n.safetensors shards of at most shard_bytes each with
// model.safetensors.index.json when it is larger), one shard in memory at a time.
// load_model on the folder gives the same model as make_synthetic_model. Returns the files
// written. shard_bytes <= 0: one file.
std::vector<std::string> write_synthetic_model(const std::string& dir, const ModelSpec& spec,
                                               uint64_t seed, at::ScalarType dtype,
                                               int64_t shard_bytes);

// "2GB", "500MB", "1.5GiB", "4096" (bytes) -> bytes; throws naming `where`.
int64_t parse_byte_size(const std::string& text, const std::string& where);

}  // namespace xai
