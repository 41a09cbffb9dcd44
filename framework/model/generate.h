// The model's own continuation of a prompt, token by token over the key/value cache (each step
// runs only the new token): greedy (transformers' generate with do_sample=False) or sampled from
// the softmax at a temperature with a seeded stream (the same tokens on every machine).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/model/model.h"

namespace xai {

class Tokenizer;
struct Sample;

struct GenerateOptions {
  int64_t max_new_tokens = 20;
  double temperature = 0;         // 0: greedy (argmax); > 0: sample softmax(logits / T)
  uint64_t seed = 0;              // the sampling stream (framework/common/rng.h)
  std::vector<int64_t> stop_ids;  // generation ends after one of these (the model's EOS), kept
  // Called with the ids generated so far after each token; true ends generation (a stop string).
  std::function<bool(const std::vector<int64_t>&)> stop;
};

struct Generation {
  std::vector<int64_t> ids;  // the generated tokens, a stop token included
  std::string stopped_by;    // "eos", "stop" (the callback) or "length"
  int64_t forward_passes = 0;
};

// Generates after `prompt` (ids, the model's special tokens already in place) on a causal
// language model. Throws xai::Error for a classifier or an encoder, or an empty prompt, or a
// prompt plus max_new_tokens beyond the model's positions.
Generation generate(Model& model, const std::vector<int64_t>& prompt,
                    const GenerateOptions& options);

// The model's answer as `sample`'s target (xai explain --generate, dataset.target: generate): the
// prompt encoded with the tokenizer's special tokens, generated with `options` plus the model's
// EOS as a stop id and, when `stop` is not empty, an end after the token that completes that text;
// then sample.target_ids are the generated ids (never re-tokenised) and sample.target their
// decoded text.
Generation generate_target(Model& model, const Tokenizer& tokenizer, Sample& sample,
                           GenerateOptions options, const std::string& stop = "");

}  // namespace xai
