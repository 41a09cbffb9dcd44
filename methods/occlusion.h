// Occlusion, or leave-one-out (Zeiler & Fergus 2014; Captum's Occlusion and FeatureAblation, as
// text and vision users run it): the relevance of an explained position for a target is how much
// the target falls when the position is removed from the input, one forward per removal, batched.
// The exact perturbation reference the other methods can be compared with (the evaluation's
// rank correlations with it).
#pragma once

#include <cstdint>
#include <string>

#include "methods/explainer.h"
#include "methods/options.h"

namespace xai {

struct OcclusionOptions {
  // How a position is removed (the choice moves the numbers: the literature's caveat that a soft
  // removal and a kept position count inflate or deflate scores):
  //   drop       the token is taken out of the sequence, the later ones move up one position
  //              (the prediction of a dropped predicting token is read at the token before it);
  //              on an image the patch's pixels are set to 0 in the normalised input (Chefer's
  //              ViT removal: a patch token keeps its grid position)
  //   attention  no query attends to it (its key column hidden in every layer); positions kept
  //   replace    its id becomes `token` (unk: the tokenizer's UNK, or PAD when it has none; pad:
  //              the model's pad_token_id; or an id); text only
  //   zero       its layer-0 input (word embedding, or patch embedding) is set to 0; positions
  //              and token types are still added
  enum class Removal { kDrop, kAttention, kReplace, kZero };
  Removal removal = Removal::kDrop;
  std::string token = "unk";  // replace: unk | pad | a token id
  // Windows of this many consecutive explained positions are removed together (sliding by one);
  // a position's score is the mean over the windows that hold it. 1 = leave-one-out.
  int64_t window = 1;
  int64_t batch_size = 16;  // removals per forward call
  bool batch_size_given = false;
  // Defaults: target logprob (the drop in the target's log-probability), target_aggregation abs.
  CommonOptions common;
  OcclusionOptions();

  // Reads and finish()es the node. Keys: removal, token, window, batch_size, and the
  // CommonOptions keys (embedding_aggregation is read and recorded, but changes nothing).
  static OcclusionOptions from_config(const ConfigNode& node);
  std::string to_json() const;
};

// "drop", "attention", "replace" or "zero", as the YAML key `removal` names it.
const char* occlusion_removal_name(OcclusionOptions::Removal removal);

// per_target[t, j] = f_t(x) - f_t(x without the windows holding j), averaged over those windows
// (f: the target function at target t's logit position; > 0: the position supports the target).
// Only explained positions (Encoded::explain_mask) are removed; the others score 0. Cost: one
// clean forward and ceil(windows / batch_size) forward calls.
class Occlusion final : public Explainer {
 public:
  explicit Occlusion(OcclusionOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void set_batch_units(int64_t units) override { options_.batch_size = units; }
  std::string settings() const override;
  std::string score_sign() const override;
  const OcclusionOptions& options() const { return options_; }

 private:
  OcclusionOptions options_;
};

}  // namespace xai
