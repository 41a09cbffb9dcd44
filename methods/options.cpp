#include "methods/options.h"

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/model/tensor_parallel.h"
#include "methods/explainer.h"

namespace xai {

const char* name_of(TargetFunction f) {
  switch (f) {
    case TargetFunction::kLogit:
      return "logit";
    case TargetFunction::kLogProb:
      return "logprob";
    case TargetFunction::kProb:
      return "prob";
  }
  return "?";
}

namespace {

const char* name_of(EmbeddingAggregation a) {
  switch (a) {
    case EmbeddingAggregation::kSum:
      return "sum";
    case EmbeddingAggregation::kL2:
      return "l2";
    case EmbeddingAggregation::kAbsSum:
      return "abs_sum";
  }
  return "?";
}
}  // namespace

const char* name_of(Normalization n) {
  switch (n) {
    case Normalization::kNone:
      return "none";
    case Normalization::kL1:
      return "l1";
    case Normalization::kMaxAbs:
      return "max_abs";
  }
  return "?";
}

Normalization read_normalization(const ConfigNode& node, Normalization current) {
  const std::string n = node.get_choice("normalize", name_of(current), {"none", "l1", "max_abs"});
  return n == "none" ? Normalization::kNone
         : n == "l1" ? Normalization::kL1
                     : Normalization::kMaxAbs;
}

void CommonOptions::read(const ConfigNode& node) {
  const std::string t = node.get_choice("target", name_of(target), {"logit", "logprob", "prob"});
  target = t == "logit"     ? TargetFunction::kLogit
           : t == "logprob" ? TargetFunction::kLogProb
                            : TargetFunction::kProb;
  const std::string e =
      node.get_choice("embedding_aggregation", name_of(embedding), {"sum", "l2", "abs_sum"});
  embedding = e == "sum"  ? EmbeddingAggregation::kSum
              : e == "l2" ? EmbeddingAggregation::kL2
                          : EmbeddingAggregation::kAbsSum;
  normalize = read_normalization(node, normalize);
  exclude_bos = node.get_bool("exclude_bos", exclude_bos);
  exclude_predicting = node.get_bool("exclude_predicting", exclude_predicting);
  target_aggregation =
      node.get_choice("target_aggregation", target_aggregation, {"abs", "square", "sum"});
}

std::string CommonOptions::json_fields() const {
  nlohmann::ordered_json j;
  j["preset"] = preset.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(preset);
  j["target"] = name_of(target);
  j["embedding_aggregation"] = name_of(embedding);
  j["normalize"] = name_of(normalize);
  j["exclude_bos"] = exclude_bos;
  j["exclude_predicting"] = exclude_predicting;
  j["target_aggregation"] = target_aggregation;
  const std::string s = j.dump();
  return s.substr(1, s.size() - 2);
}

at::Tensor target_function(const at::Tensor& logits, const at::Tensor& targets, TargetFunction f,
                           const VocabSlice& vocab) {
  if (targets.dim() == 2) {  // [target, foil] pairs: a contrast
    return target_function(logits, targets.select(1, 0), f, vocab) -
           target_function(logits, targets.select(1, 1), f, vocab);
  }
  XAI_CHECK(logits.dim() == 2 && targets.dim() == 1 && logits.size(0) == targets.size(0),
            "target_function: logits (P, V) and targets (P) disagree");
  if (vocab_part(logits, vocab)) {
    // This rank's part of the vocabulary: log p = z_t - logsumexp(z), reduced over the group.
    const at::Tensor z = vocab_target(logits, targets, vocab);
    if (f == TargetFunction::kLogit) return z;
    const at::Tensor lp = z - vocab_logsumexp(logits, vocab);
    return f == TargetFunction::kLogProb ? lp : lp.exp();
  }
  at::Tensor idx = targets.to(logits.device()).view({-1, 1});
  switch (f) {
    case TargetFunction::kLogit:
      return logits.gather(1, idx).view({-1});
    case TargetFunction::kLogProb:
      return at::log_softmax(logits, -1).gather(1, idx).view({-1});
    case TargetFunction::kProb:
      return at::softmax(logits, -1).gather(1, idx).view({-1});
  }
  throw Error("internal: unknown target function");
}

at::Tensor aggregate_embedding(const at::Tensor& a, EmbeddingAggregation how) {
  switch (how) {
    case EmbeddingAggregation::kSum:
      return a.sum(-1);
    case EmbeddingAggregation::kL2:
      return a.norm(2, -1);
    case EmbeddingAggregation::kAbsSum:
      return a.abs().sum(-1);
  }
  throw Error("internal: unknown aggregation");
}

at::Tensor finish_scores(const at::Tensor& per_target, const Encoded& sample,
                         const CommonOptions& o) {
  at::Tensor s = per_target.to(at::kCPU, at::kFloat).clone();  // (n, T)
  const int64_t n = s.size(0), T = s.size(1), P = sample.prompt_len;
  XAI_CHECK(T == sample.size(), "finish_scores: ", T, " scores for ", sample.size(), " tokens");
  at::Tensor allowed = at::ones({n, T}, at::kBool);  // positions that may carry a score
  // Next-token targets: positions after the predicting one cannot be relevant to it (a
  // classification sample's readout sees every token, and it is a special token anyway).
  for (int64_t t = 0; t < n && !sample.classification(); ++t) {
    const int64_t p = P - 1 + t;  // predicting position
    if (p + 1 < T) allowed[t].slice(0, p + 1).fill_(false);
    if (o.exclude_predicting) allowed[t][p] = false;
  }
  if (o.exclude_bos && T > 0 && sample.offsets[0].begin == 0 && sample.offsets[0].end == 0) {
    allowed.select(1, 0).fill_(false);  // a leading token with no bytes is a BOS-like special
  }
  s.masked_fill_(allowed.logical_not(), 0.0f);
  if (o.normalize == Normalization::kL1) {
    s = s / s.abs().sum(1, true).clamp_min(1e-30);
  } else if (o.normalize == Normalization::kMaxAbs) {
    s = s / std::get<0>(s.abs().max(1, true)).clamp_min(1e-30);
  }
  return s;
}

}  // namespace xai
