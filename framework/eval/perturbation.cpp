// See perturbation.h.
#include "framework/eval/perturbation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/common/error.h"
#include "framework/model/family.h"
#include "methods/explainer.h"

namespace xai {
namespace {

double area(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() < 2) return y.empty() ? 0.0 : y[0];
  double a = 0;
  for (size_t i = 1; i < x.size(); ++i) a += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return a / (x.back() - x.front());
}

}  // namespace

const std::vector<MetricDef>& perturbation_metrics() {
  static const std::vector<MetricDef> kDefs = {
      {"pos_auc", false,
       "positive perturbation (most relevant removed first): mean target probability over the "
       "removal steps; lower is better"},
      {"neg_auc", true,
       "negative perturbation (least relevant removed first): mean target probability over the "
       "removal steps; higher is better"},
      {"pos_acc", false,
       "positive perturbation: share of removal steps after which the target is still the "
       "argmax (its mean over samples is the area under Chefer's accuracy curve); lower is better"},
      {"neg_acc", true,
       "negative perturbation: share of removal steps after which the target is still the "
       "argmax; higher is better"},
      {"pos_auc_norm", false,
       "deletion, most relevant first (MoRF): area under the target probability curve divided "
       "by the clean probability; lower is better"},
      {"neg_auc_norm", true,
       "deletion, least relevant first (LeRF): area under the target probability curve divided "
       "by the clean probability; higher is better"},
      {"ins_auc_norm", true,
       "insertion, most relevant first into the input with every explained position removed: "
       "area under the target probability curve divided by the clean probability; higher is "
       "better"},
      {"aopc_morf", true,
       "AOPC of deletion, most relevant first: mean drop of the target's log-probability over "
       "the removal steps; higher is better"},
      {"aopc_lerf", false,
       "AOPC of deletion, least relevant first: mean drop of the target's log-probability over "
       "the removal steps; lower is better"},
      {"comprehensiveness", true,
       "ERASER comprehensiveness: target probability lost when the top k% are removed, mean "
       "over k; higher is better"},
      {"sufficiency", false,
       "ERASER sufficiency: target probability lost when only the top k% are kept, mean over k; "
       "lower is better"},
  };
  return kDefs;
}

PerturbationCurves perturbation_curves(Model& model, const Encoded& sample,
                                       const std::vector<float>& relevance,
                                       const PerturbationSettings& s) {
  XAI_CHECK(s.steps >= 2 && s.batch_size >= 1, "internal: perturbation steps ", s.steps);
  const int64_t T = sample.size();
  const bool segmented = !sample.segments.empty();
  const int64_t U = segmented ? static_cast<int64_t>(sample.segments.size()) : T;
  XAI_CHECK(static_cast<int64_t>(relevance.size()) == U, "internal: ", relevance.size(),
            " scores for ", U, segmented ? " segments" : " positions");
  XAI_CHECK(!(sample.image() && s.removal == Removal::kReplace),
            "metrics.perturbation: removal 'replace' replaces a token, and this sample is an "
            "image (HINT: removal: drop, zero or attention)");
  // A language model's last prompt token predicts the first target: its own query reads it, so
  // hiding it from attention would not remove it; it stays.
  const int64_t last = sample.classification() ? T : sample.prompt_len - 1;
  // The units removed together, in position order: each explained position, or each segment
  // (its positions before `last`).
  std::vector<std::vector<int64_t>> units;
  std::vector<float> unit_relevance;
  for (int64_t u = 0; u < U; ++u) {
    if (std::isnan(relevance[static_cast<size_t>(u)])) continue;
    std::vector<int64_t> positions;
    const int64_t first = segmented ? sample.segments[static_cast<size_t>(u)].first : u;
    const int64_t end = segmented ? sample.segments[static_cast<size_t>(u)].end : u + 1;
    for (int64_t t = first; t < std::min(end, last); ++t) {
      if (sample.explain_mask[static_cast<size_t>(t)]) positions.push_back(t);
    }
    if (positions.empty()) continue;
    units.push_back(std::move(positions));
    unit_relevance.push_back(relevance[static_cast<size_t>(u)]);
  }
  XAI_CHECK(!units.empty(), "perturbation: the sample has no explained position to remove");
  auto rel = [&](int64_t u) { return unit_relevance[static_cast<size_t>(u)]; };
  const int64_t n = static_cast<int64_t>(units.size());
  std::vector<int64_t> most(static_cast<size_t>(n));
  std::iota(most.begin(), most.end(), 0);
  std::vector<int64_t> least = most;
  std::stable_sort(most.begin(), most.end(), [&](int64_t a, int64_t b) { return rel(a) > rel(b); });
  std::stable_sort(least.begin(), least.end(),
                   [&](int64_t a, int64_t b) { return rel(a) < rel(b); });

  // Every input to run, as the positions it removes (ascending): row 0 the clean input.
  std::vector<std::vector<int64_t>> gone = {{}};
  auto add = [&](const std::vector<int64_t>& order, int64_t from, int64_t to) {
    std::vector<int64_t> g;
    for (int64_t k = from; k < to; ++k) {
      const auto& p = units[static_cast<size_t>(order[static_cast<size_t>(k)])];
      g.insert(g.end(), p.begin(), p.end());
    }
    std::sort(g.begin(), g.end());
    gone.push_back(std::move(g));
    return gone.size() - 1;
  };
  PerturbationCurves out;
  std::vector<size_t> pos_rows, neg_rows, ins_rows, comp_rows, suff_rows;
  for (int64_t i = 0; i < s.steps; ++i) {
    out.fractions.push_back(static_cast<double>(i) / static_cast<double>(s.steps));
    const int64_t k = i * n / s.steps;
    pos_rows.push_back(i == 0 ? 0 : add(most, 0, k));
    neg_rows.push_back(i == 0 ? 0 : add(least, 0, k));
    ins_rows.push_back(add(most, k, n));  // the k most relevant put back
  }
  for (int64_t pct : s.eraser) {
    const int64_t k = std::min(n, std::max<int64_t>(1, (pct * n + 99) / 100));
    comp_rows.push_back(add(most, 0, k));
    suff_rows.push_back(add(most, k, n));
  }

  const int64_t token = s.removal == Removal::kReplace
                            ? replacement_id(s.token, model, sample, "metrics.perturbation")
                            : -1;
  const SampleInput input = sample_input(model, sample);
  const at::Tensor targets = at::tensor(sample.target_ids, at::kLong).to(model.device());
  const int64_t n_targets = sample.num_targets();
  std::vector<double> prob(gone.size()), logprob(gone.size()), correct(gone.size());
  at::NoGradGuard no_grad;
  // A causal model's text: no input changes the positions before the first explained one, so
  // their keys and values are computed once and every batch starts after them.
  const int64_t from = !sample.image() && sample.token_types.empty() && is_causal(model.spec())
                           ? units.front().front()
                           : 0;
  const KVCache prefix = from > 0 ? clean_prefix(model, input, from) : KVCache();
  if (from > 0) ++out.forward_passes;
  for (size_t begin = 0; begin < gone.size(); begin += static_cast<size_t>(s.batch_size)) {
    const size_t end = std::min(gone.size(), begin + static_cast<size_t>(s.batch_size));
    const int64_t B = static_cast<int64_t>(end - begin);
    const std::vector<std::vector<int64_t>> rows(gone.begin() + static_cast<std::ptrdiff_t>(begin),
                                                 gone.begin() + static_cast<std::ptrdiff_t>(end));
    AttentionControl ctl;
    ForwardRequest req = removal_request(model, sample, input, rows, s.removal, token, ctl, from);
    if (from > 0) req.past = &prefix;
    const at::Tensor logits = model.forward(req, ctl).logits.to(at::kFloat);  // (B, n, V)
    ++out.forward_passes;
    const at::Tensor idx = targets.view({1, n_targets, 1}).expand({B, n_targets, 1});
    const at::Tensor lp = at::log_softmax(logits, -1).gather(2, idx).squeeze(2);  // (B, n)
    const at::Tensor pt = lp.exp().mean(1).to(at::kCPU, at::kDouble);
    const at::Tensor lpt = lp.mean(1).to(at::kCPU, at::kDouble);
    const at::Tensor hit =
        logits.argmax(-1).eq(targets.view({1, n_targets})).all(1).to(at::kCPU, at::kDouble);
    for (int64_t b = 0; b < B; ++b) {
      prob[begin + static_cast<size_t>(b)] = pt[b].item<double>();
      logprob[begin + static_cast<size_t>(b)] = lpt[b].item<double>();
      correct[begin + static_cast<size_t>(b)] = hit[b].item<double>();
    }
  }
  auto pick = [](const std::vector<double>& v, const std::vector<size_t>& rows) {
    std::vector<double> r;
    for (size_t i : rows) r.push_back(v[i]);
    return r;
  };
  out.clean_prob = prob[0];
  out.clean_logprob = logprob[0];
  out.positive_prob = pick(prob, pos_rows);
  out.negative_prob = pick(prob, neg_rows);
  out.insertion_prob = pick(prob, ins_rows);
  out.positive_correct = pick(correct, pos_rows);
  out.negative_correct = pick(correct, neg_rows);
  out.insertion_correct = pick(correct, ins_rows);
  out.positive_logprob = pick(logprob, pos_rows);
  out.negative_logprob = pick(logprob, neg_rows);
  out.insertion_logprob = pick(logprob, ins_rows);
  out.positive_auc = area(out.fractions, out.positive_prob);
  out.negative_auc = area(out.fractions, out.negative_prob);
  out.insertion_auc = area(out.fractions, out.insertion_prob);
  out.positive_auc_correct = area(out.fractions, out.positive_correct);
  out.negative_auc_correct = area(out.fractions, out.negative_correct);
  const double clean = std::max(out.clean_prob, 1e-30);
  out.positive_auc_norm = out.positive_auc / clean;
  out.negative_auc_norm = out.negative_auc / clean;
  out.insertion_auc_norm = out.insertion_auc / clean;
  for (size_t i = 0; i < out.fractions.size(); ++i) {
    out.aopc_positive += out.clean_logprob - out.positive_logprob[i];
    out.aopc_negative += out.clean_logprob - out.negative_logprob[i];
  }
  out.aopc_positive /= static_cast<double>(out.fractions.size());
  out.aopc_negative /= static_cast<double>(out.fractions.size());
  for (size_t j = 0; j < s.eraser.size(); ++j) {
    out.comprehensiveness.push_back(out.clean_prob - prob[comp_rows[j]]);
    out.sufficiency.push_back(out.clean_prob - prob[suff_rows[j]]);
    out.comprehensiveness_mean += out.comprehensiveness.back();
    out.sufficiency_mean += out.sufficiency.back();
  }
  if (!s.eraser.empty()) {
    out.comprehensiveness_mean /= static_cast<double>(s.eraser.size());
    out.sufficiency_mean /= static_cast<double>(s.eraser.size());
  }
  return out;
}

}  // namespace xai
