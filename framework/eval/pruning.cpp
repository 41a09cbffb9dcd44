// See pruning.h.
#include "framework/eval/pruning.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "framework/common/error.h"
#include "methods/explainer.h"

namespace xai {
namespace {

// Whether `logits` (1, n, V) get every target of the sample right.
bool right_of(const at::Tensor& logits, const Encoded& s) {
  const at::Tensor targets = at::tensor(s.target_ids, at::kLong).to(logits.device());
  return logits[0].argmax(-1).eq(targets).all().item<bool>();
}

// The sample's forward, its logits at the sample's logit positions only.
ForwardRequest sample_request(Model& model, const Encoded& s) {
  ForwardRequest req;
  sample_input(model, s).set(req);
  req.logit_positions = logit_positions(s).to(model.device());
  return req;
}

}  // namespace

at::Tensor pruned_logits(Model& model, const Encoded& s, const at::Tensor& mask) {
  at::NoGradGuard no_grad;
  const ForwardRequest req = sample_request(model, s);
  AttentionControl ctl;
  if (mask.defined()) {
    ctl.replace_probs = [&](int layer, const at::Tensor& probs) {
      return probs * mask[layer].view({1, -1, 1, 1}).to(probs.device(), probs.scalar_type());
    };
  }
  return model.forward(req, ctl).logits;  // (1, n, V)
}

std::vector<int64_t> pruning_order(const std::vector<double>& scores) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)];
  });
  return order;
}

at::Tensor global_keep_mask(const std::vector<int64_t>& order, int64_t k, int64_t layers,
                            int64_t heads) {
  at::Tensor mask = at::ones({layers, heads}, at::kFloat);
  for (int64_t j = 0; j < k; ++j) {
    const int64_t head = order[static_cast<size_t>(j)];
    mask[head / heads][head % heads] = 0;
  }
  return mask;
}

at::Tensor per_layer_keep_mask(const std::vector<double>& scores, int64_t k, int64_t layers,
                               int64_t heads) {
  at::Tensor mask = at::ones({layers, heads}, at::kFloat);
  for (int64_t l = 0; l < layers; ++l) {
    const auto first = scores.begin() + l * heads;
    const std::vector<int64_t> order = pruning_order(std::vector<double>(first, first + heads));
    for (int64_t j = 0; j < k; ++j) mask[l][order[static_cast<size_t>(j)]] = 0;
  }
  return mask;
}

namespace {

// Up to `steps` evenly spread counts from 0 to `n`, each once.
std::vector<int64_t> curve_points(int64_t n, int64_t steps) {
  const int64_t points = std::max<int64_t>(2, std::min(steps, n + 1));
  std::vector<int64_t> ks;
  for (int64_t i = 0; i < points; ++i) {
    const int64_t k = static_cast<int64_t>(std::llround(static_cast<double>(i) * n / (points - 1)));
    if (ks.empty() || ks.back() != k) ks.push_back(k);
  }
  return ks;
}

}  // namespace

PruningCurves pruning_curves(Model* model, const std::vector<Encoded>& samples,
                             const std::vector<double>& importance, int64_t layers, int64_t heads,
                             int64_t steps, const SumOverRanks& sum) {
  PruningCurves c;
  c.layers = layers;
  c.heads = heads;
  const int64_t LH = c.layers * c.heads;
  XAI_CHECK(static_cast<int64_t>(importance.size()) == LH, "pruning: ", importance.size(),
            " head importances for a model of ", c.layers, " x ", c.heads, " heads");
  XAI_CHECK(samples.empty() || model != nullptr, "pruning: samples but no model");
  if (model != nullptr) {
    XAI_CHECK(model->spec().num_layers == layers && model->spec().num_heads == heads,
              "pruning: the model has ", model->spec().num_layers, " x ", model->spec().num_heads,
              " heads, not ", layers, " x ", heads);
  }
  c.importance = importance;
  at::NoGradGuard no_grad;

  // The attention baseline: each head's largest attention probability, averaged over samples.
  // Summed here (and over the ranks), then divided by the number of samples.
  // The same forward says whether the unpruned model is right (every curve's first point).
  std::vector<double> first(static_cast<size_t>(LH + 1), 0.0);  // L * H sums, samples
  std::vector<char> plain;                                      // per sample
  for (const Encoded& s : samples) {
    AttentionControl ctl;
    ctl.keep_probs = true;
    const ForwardResult out = model->forward(sample_request(*model, s), ctl);
    plain.push_back(right_of(out.logits, s));
    for (int64_t l = 0; l < c.layers; ++l) {
      const at::Tensor mx = std::get<0>(out.attn_probs[static_cast<size_t>(l)][0].flatten(1).max(1))
                                .to(at::kDouble)
                                .cpu();
      for (int64_t h = 0; h < c.heads; ++h) {
        first[static_cast<size_t>(l * c.heads + h)] += mx[h].item<double>();
      }
    }
    first[static_cast<size_t>(LH)] += 1;
  }
  if (sum) sum(first);
  const double n = first[static_cast<size_t>(LH)];
  XAI_CHECK(n > 0, "pruning: no samples");
  c.samples = static_cast<int64_t>(n);
  c.attention.assign(first.begin(), first.begin() + LH);
  for (double& a : c.attention) a /= n;

  // The four curves (global and per layer, by importance and by attention): every point's mask,
  // then every sample's verdict under each, counted here and summed over the ranks.
  c.pruned = curve_points(LH, steps);
  c.pruned_per_layer = curve_points(c.heads, steps);
  std::vector<at::Tensor> masks;
  for (int which = 0; which < 2; ++which) {
    const std::vector<double>& scores = which == 0 ? c.importance : c.attention;
    const std::vector<int64_t> order = pruning_order(scores);
    for (int64_t k : c.pruned) {
      masks.push_back(k == 0 ? at::Tensor() : global_keep_mask(order, k, c.layers, c.heads));
    }
    for (int64_t k : c.pruned_per_layer) {
      masks.push_back(k == 0 ? at::Tensor() : per_layer_keep_mask(scores, k, c.layers, c.heads));
    }
  }
  std::vector<double> right(masks.size() + 1, 0.0);  // per mask, then forward passes
  for (size_t k = 0; k < samples.size(); ++k) {
    for (size_t i = 0; i < masks.size(); ++i) {
      if (!masks[i].defined()) {  // unpruned: known from the first forward
        right[i] += plain[k];
        continue;
      }
      right[i] += right_of(pruned_logits(*model, samples[k], masks[i]), samples[k]);
      right.back() += 1;
    }
  }
  if (sum) sum(right);
  c.forward_passes = static_cast<int64_t>(n + right.back());
  size_t i = 0;  // the masks' order above
  auto take = [&](std::vector<double>& accuracy, size_t points) {
    for (size_t j = 0; j < points; ++j) accuracy.push_back(right[i++] / n);
  };
  take(c.accuracy_by_importance, c.pruned.size());
  take(c.per_layer_by_importance, c.pruned_per_layer.size());
  take(c.accuracy_by_attention, c.pruned.size());
  take(c.per_layer_by_attention, c.pruned_per_layer.size());
  return c;
}

namespace {

struct Line {
  const std::vector<double>* accuracy;
  const char* colour;
  const char* name;
};

// One chart at (x0, 0) of the SVG: accuracy (0 .. 100%) against the counts `ks` (0 .. max_k).
void chart(std::ostringstream& os, double x0, const std::string& title, const std::string& xlabel,
           const std::vector<int64_t>& ks, int64_t max_k, const std::vector<Line>& lines) {
  const double W = 480, H = 320, left = 56, right = 16, top = 36, bottom = 48;
  const double pw = W - left - right, ph = H - top - bottom;
  const double K = static_cast<double>(std::max<int64_t>(1, max_k));
  auto px = [&](double k) { return x0 + left + pw * k / K; };
  auto py = [&](double a) { return top + ph * (1 - a); };
  os << "<text x=\"" << x0 + W / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
     << title << "</text>\n";
  for (int i = 0; i <= 4; ++i) {  // accuracy grid 0 .. 100%
    const double y = py(i / 4.0);
    os << "<line x1=\"" << x0 + left << "\" y1=\"" << y << "\" x2=\"" << x0 + left + pw
       << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n<text x=\"" << x0 + left - 6 << "\" y=\""
       << y + 4 << "\" text-anchor=\"end\">" << i * 25 << "%</text>\n";
  }
  os << "<line x1=\"" << x0 + left << "\" y1=\"" << top + ph << "\" x2=\"" << x0 + left + pw
     << "\" y2=\"" << top + ph << "\" stroke=\"black\"/>\n";
  // Tick labels, thinned so that they do not overlap (at most about one per 28 px).
  const size_t every = std::max<size_t>(1, static_cast<size_t>(ks.size() * 28 / pw) + 1);
  for (size_t i = 0; i < ks.size(); ++i) {
    if (i % every != 0 && i + 1 != ks.size()) continue;
    os << "<text x=\"" << px(static_cast<double>(ks[i])) << "\" y=\"" << top + ph + 16
       << "\" text-anchor=\"middle\">" << ks[i] << "</text>\n";
  }
  os << "<text x=\"" << x0 + left + pw / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">"
     << xlabel << "</text>\n";
  int li = 0;
  for (const Line& line : lines) {
    os << "<polyline fill=\"none\" stroke=\"" << line.colour << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < ks.size() && i < line.accuracy->size(); ++i) {
      os << px(static_cast<double>(ks[i])) << "," << py((*line.accuracy)[i]) << " ";
    }
    os << "\"/>\n<text x=\"" << x0 + left + 10 << "\" y=\"" << top + ph - 10 - 16 * li
       << "\" fill=\"" << line.colour << "\">" << line.name << "</text>\n";
    ++li;
  }
}

}  // namespace

std::string pruning_svg(const PruningCurves& c, const std::string& title) {
  const double W = 960, H = 344;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << W / 2 << "\" y=\"" << H - 4 << "\" text-anchor=\"middle\" fill=\"#555\">"
     << title << "</text>\n";
  chart(os, 0, "Global", "heads pruned (of " + std::to_string(c.layers * c.heads) + ")", c.pruned,
        c.layers * c.heads,
        {{&c.accuracy_by_importance, "#d62728", "attribution (AttAttr)"},
         {&c.accuracy_by_attention, "#1f77b4", "attention"}});
  chart(os, W / 2, "Per layer", "heads pruned in every layer (of " + std::to_string(c.heads) + ")",
        c.pruned_per_layer, c.heads,
        {{&c.per_layer_by_importance, "#d62728", "attribution (AttAttr)"},
         {&c.per_layer_by_attention, "#1f77b4", "attention"}});
  os << "</svg>\n";
  return os.str();
}

}  // namespace xai
