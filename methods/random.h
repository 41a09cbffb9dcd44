// Random relevance: uniform scores in [0, 1), seeded by a parameter and the sample's token ids, so
// different samples differ and a rerun is identical. The floor every metric is compared against.
#pragma once

#include <cstdint>
#include <string>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct RandomOptions {
  uint64_t seed = 0;
  // Only normalize, exclude_bos, exclude_predicting and target_aggregation act (target and
  // embedding_aggregation are read and recorded for a uniform configuration, but change nothing).
  CommonOptions common;

  // Reads and finish()es the node. Keys: seed, preset (none | atman_paper | captum_llm | inseq;
  // their shared options), and the CommonOptions keys.
  static RandomOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// per_target[t, j] ~ U[0, 1), independent over (t, j), from a splitmix64 stream whose state
// mixes the seed, the token ids, the prompt length and the target ids (no LibTorch generator, so
// the numbers do not depend on the LibTorch version or device). Positions after the predicting
// position get 0, as do exclusions; then normalisation. No model call.
class RandomBaseline final : public Explainer {
 public:
  explicit RandomBaseline(RandomOptions options) : options_(std::move(options)) {}
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  bool runs_layer_major() const override { return true; }  // one forward, layer by layer
  const RandomOptions& options() const { return options_; }

 private:
  RandomOptions options_;
};

}  // namespace xai
