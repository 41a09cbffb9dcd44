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

// Whether the model gets every target of the sample right with the heads in `mask` (L, H) kept
// (1) or pruned (0); mask undefined = all kept.
bool correct(Model& model, const Encoded& s, const at::Tensor& mask) {
  const at::Tensor logits = pruned_logits(model, s, mask);  // (1, n, V)
  const at::Tensor targets = at::tensor(s.target_ids, at::kLong).to(logits.device());
  return logits[0].argmax(-1).eq(targets).all().item<bool>();
}

}  // namespace

at::Tensor pruned_logits(Model& model, const Encoded& s, const at::Tensor& mask) {
  at::NoGradGuard no_grad;
  const SampleInput input = sample_input(model, s);
  ForwardRequest req;
  input.set(req);
  req.logit_positions = logit_positions(s).to(model.device());
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

PruningCurves pruning_curves(Model& model, const std::vector<Encoded>& samples,
                             const std::vector<double>& importance, int64_t steps) {
  PruningCurves c;
  c.layers = model.spec().num_layers;
  c.heads = model.spec().num_heads;
  const int64_t LH = c.layers * c.heads;
  XAI_CHECK(static_cast<int64_t>(importance.size()) == LH, "pruning: ", importance.size(),
            " head importances for a model of ", c.layers, " x ", c.heads, " heads");
  XAI_CHECK(!samples.empty(), "pruning: no samples");
  c.importance = importance;
  c.samples = static_cast<int64_t>(samples.size());
  at::NoGradGuard no_grad;

  // The attention baseline: each head's largest attention probability, averaged over samples.
  c.attention.assign(static_cast<size_t>(LH), 0.0);
  for (const Encoded& s : samples) {
    const SampleInput input = sample_input(model, s);
    ForwardRequest req;
    input.set(req);
    req.logit_positions = logit_positions(s).to(model.device());
    AttentionControl ctl;
    ctl.keep_probs = true;
    const ForwardResult out = model.forward(req, ctl);
    ++c.forward_passes;
    for (int64_t l = 0; l < c.layers; ++l) {
      const at::Tensor mx =
          std::get<0>(out.attn_probs[static_cast<size_t>(l)][0].flatten(1).max(1));
      for (int64_t h = 0; h < c.heads; ++h) {
        c.attention[static_cast<size_t>(l * c.heads + h)] +=
            mx[h].item<double>() / static_cast<double>(samples.size());
      }
    }
  }

  const int64_t points = std::max<int64_t>(2, std::min(steps, LH + 1));
  for (int64_t i = 0; i < points; ++i) {
    const int64_t k =
        static_cast<int64_t>(std::llround(static_cast<double>(i) * LH / (points - 1)));
    if (!c.pruned.empty() && c.pruned.back() == k) continue;
    c.pruned.push_back(k);
  }
  for (int which = 0; which < 2; ++which) {
    const std::vector<int64_t> order = pruning_order(which == 0 ? c.importance : c.attention);
    std::vector<double>& acc = which == 0 ? c.accuracy_by_importance : c.accuracy_by_attention;
    for (int64_t k : c.pruned) {
      at::Tensor mask = at::ones({c.layers, c.heads}, at::kFloat);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t head = order[static_cast<size_t>(j)];
        mask[head / c.heads][head % c.heads] = 0;
      }
      int64_t right = 0;
      for (const Encoded& s : samples) {
        right += correct(model, s, k == 0 ? at::Tensor() : mask);
        ++c.forward_passes;
      }
      acc.push_back(static_cast<double>(right) / static_cast<double>(samples.size()));
    }
  }
  return c;
}

std::string pruning_svg(const PruningCurves& c, const std::string& title) {
  const double W = 480, H = 320, left = 56, right = 16, top = 36, bottom = 48;
  const double pw = W - left - right, ph = H - top - bottom;
  const int64_t LH = std::max<int64_t>(1, c.layers * c.heads);
  auto px = [&](double k) { return left + pw * k / static_cast<double>(LH); };
  auto py = [&](double a) { return top + ph * (1 - a); };
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << W / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" << title
     << "</text>\n";
  for (int i = 0; i <= 4; ++i) {  // accuracy grid 0 .. 100%
    const double y = py(i / 4.0);
    os << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
       << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4
       << "\" text-anchor=\"end\">" << i * 25 << "%</text>\n";
  }
  os << "<line x1=\"" << left << "\" y1=\"" << top + ph << "\" x2=\"" << left + pw << "\" y2=\""
     << top + ph << "\" stroke=\"black\"/>\n";
  for (int64_t k : c.pruned) {
    os << "<text x=\"" << px(static_cast<double>(k)) << "\" y=\"" << top + ph + 16
       << "\" text-anchor=\"middle\">" << k << "</text>\n";
  }
  os << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 10
     << "\" text-anchor=\"middle\">heads pruned (of " << LH << ")</text>\n";
  const struct {
    const std::vector<double>* acc;
    const char* colour;
    const char* name;
  } lines[] = {{&c.accuracy_by_importance, "#d62728", "attribution (AttAttr)"},
               {&c.accuracy_by_attention, "#1f77b4", "attention"}};
  int li = 0;
  for (const auto& line : lines) {
    os << "<polyline fill=\"none\" stroke=\"" << line.colour << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < c.pruned.size() && i < line.acc->size(); ++i) {
      os << px(static_cast<double>(c.pruned[i])) << "," << py((*line.acc)[i]) << " ";
    }
    os << "\"/>\n<text x=\"" << left + 10 << "\" y=\"" << top + ph - 10 - 16 * li << "\" fill=\""
       << line.colour << "\">" << line.name << "</text>\n";
    ++li;
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace xai
