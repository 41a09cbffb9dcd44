// See perturbation.h.
#include "framework/eval/perturbation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/common/error.h"
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
  };
  return kDefs;
}

PerturbationCurves perturbation_curves(Model& model, const Encoded& sample,
                                       const std::vector<float>& relevance,
                                       const PerturbationSettings& s) {
  XAI_CHECK(s.steps >= 2 && s.batch_size >= 1, "internal: perturbation steps ", s.steps);
  const int64_t T = sample.size();
  XAI_CHECK(static_cast<int64_t>(relevance.size()) == T, "internal: ", relevance.size(),
            " scores for ", T, " positions");
  // A language model's last prompt token predicts the first target: its own query reads it, so
  // hiding it from attention would not remove it; it stays.
  const int64_t last = sample.classification() ? T : sample.prompt_len - 1;
  std::vector<int64_t> explained;
  for (int64_t t = 0; t < last; ++t) {
    if (sample.explain_mask[static_cast<size_t>(t)] &&
        !std::isnan(relevance[static_cast<size_t>(t)]))
      explained.push_back(t);
  }
  XAI_CHECK(!explained.empty(), "perturbation: the sample has no explained position to remove");
  auto rel = [&](int64_t t) { return relevance[static_cast<size_t>(t)]; };
  std::vector<int64_t> most = explained, least = explained;
  std::stable_sort(most.begin(), most.end(), [&](int64_t a, int64_t b) { return rel(a) > rel(b); });
  std::stable_sort(least.begin(), least.end(),
                   [&](int64_t a, int64_t b) { return rel(a) < rel(b); });
  const int64_t n = static_cast<int64_t>(explained.size());

  // Row 0 is the clean input; rows 2i-1 and 2i remove the first k_i of `most` and of `least`.
  struct Row {
    const std::vector<int64_t>* order;
    int64_t k;
  };
  std::vector<Row> rows = {{&most, 0}};
  PerturbationCurves out;
  for (int64_t i = 0; i < s.steps; ++i) {
    out.fractions.push_back(static_cast<double>(i) / static_cast<double>(s.steps));
    if (i == 0) continue;
    const int64_t k = i * n / s.steps;
    rows.push_back({&most, k});
    rows.push_back({&least, k});
  }

  const SampleInput input = sample_input(model, sample);
  const at::Tensor positions = logit_positions(sample).to(model.device());
  const at::Tensor targets = at::tensor(sample.target_ids, at::kLong).to(model.device());
  const int64_t n_targets = sample.num_targets();
  std::vector<double> prob(rows.size()), correct(rows.size());
  at::NoGradGuard no_grad;
  for (size_t begin = 0; begin < rows.size(); begin += static_cast<size_t>(s.batch_size)) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(s.batch_size));
    const int64_t B = static_cast<int64_t>(end - begin);
    ForwardRequest req;
    input.set(req, B);
    if (sample.image()) {
      at::Tensor px = req.pixel_values.clone();  // (B, C, S, S)
      for (int64_t b = 0; b < B; ++b) {
        const Row& r = rows[begin + static_cast<size_t>(b)];
        for (int64_t j = 0; j < r.k; ++j)
          zero_patch(px[b], sample, (*r.order)[static_cast<size_t>(j)]);
      }
      req.pixel_values = px;
    } else {
      at::Tensor mask = at::ones({B, T}, at::kLong);
      for (int64_t b = 0; b < B; ++b) {
        const Row& r = rows[begin + static_cast<size_t>(b)];
        for (int64_t j = 0; j < r.k; ++j) mask[b][(*r.order)[static_cast<size_t>(j)]] = 0;
      }
      req.attention_mask = mask.to(model.device());
    }
    req.logit_positions = positions;
    const at::Tensor logits = model.forward(req).logits.to(at::kFloat);  // (B, n, V)
    ++out.forward_passes;
    const at::Tensor p = at::softmax(logits, -1);
    const at::Tensor idx = targets.view({1, n_targets, 1}).expand({B, n_targets, 1});
    const at::Tensor pt = p.gather(2, idx).squeeze(2).mean(1).to(at::kCPU, at::kDouble);  // (B)
    const at::Tensor hit =
        logits.argmax(-1).eq(targets.view({1, n_targets})).all(1).to(at::kCPU, at::kDouble);
    for (int64_t b = 0; b < B; ++b) {
      prob[begin + static_cast<size_t>(b)] = pt[b].item<double>();
      correct[begin + static_cast<size_t>(b)] = hit[b].item<double>();
    }
  }
  for (int64_t i = 0; i < s.steps; ++i) {
    const size_t pos = i == 0 ? 0 : static_cast<size_t>(2 * i - 1);
    const size_t neg = i == 0 ? 0 : static_cast<size_t>(2 * i);
    out.positive_prob.push_back(prob[pos]);
    out.negative_prob.push_back(prob[neg]);
    out.positive_correct.push_back(correct[pos]);
    out.negative_correct.push_back(correct[neg]);
  }
  out.positive_auc = area(out.fractions, out.positive_prob);
  out.negative_auc = area(out.fractions, out.negative_prob);
  out.positive_auc_correct = area(out.fractions, out.positive_correct);
  out.negative_auc_correct = area(out.fractions, out.negative_correct);
  return out;
}

}  // namespace xai
