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
#include "methods/removal.h"

namespace xai {

struct OcclusionOptions {
  // How a position is removed (methods/removal.h: drop, attention, replace by `token`, zero). For
  // drop, the prediction of a dropped predicting token is read at the token before it.
  using Removal = xai::Removal;
  Removal removal = Removal::kDrop;
  std::string token = "unk";  // replace: unk | pad | mask | a token id
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

// per_target[t, j] = f_t(x) - f_t(x without the windows holding j), averaged over those windows
// (f: the target function at target t's logit position; > 0: the position supports the target).
// Only explained positions (Encoded::explain_mask) are removed; the others score 0. With
// Encoded::segments a segment is removed as one (a window is `window` consecutive segments) and
// each of its tokens gets its score. Cost: one clean forward and ceil(windows / batch_size)
// forward calls.
class Occlusion final : public Explainer {
 public:
  explicit Occlusion(OcclusionOptions options);
  Explanation explain(Model& model, const Encoded& sample, ExplainContext& ctx) override;
  std::string params_json() const override { return options_.to_json(); }
  MemoryNeed memory_need(const MemoryQuery& q) const override;
  void set_batch_units(int64_t units) override { options_.batch_size = units; }
  bool perturbs_segments() const override { return true; }
  std::string settings() const override;
  std::string score_sign() const override;
  const OcclusionOptions& options() const { return options_; }

 private:
  OcclusionOptions options_;
};

}  // namespace xai
