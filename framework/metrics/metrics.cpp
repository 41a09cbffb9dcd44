#include "framework/metrics/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numeric>

#include "framework/common/error.h"
#include "framework/text/unicode.h"

namespace xai {

double average_precision(const std::vector<double>& x, const std::vector<double>& y) {
  XAI_CHECK(x.size() == y.size(), "average_precision: ", x.size(), " scores for ", y.size(),
            " mask entries");
  double xy = 0, sx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    xy += x[i] * y[i];
    sx += x[i];
  }
  return xy / (sx + 1e-7);
}

double average_recall(const std::vector<double>& x, const std::vector<double>& y) {
  XAI_CHECK(x.size() == y.size(), "average_recall: ", x.size(), " scores for ", y.size(),
            " mask entries");
  double mx = 0, sy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx = std::max(mx, x[i]);
    sy += y[i];
  }
  if (mx <= 0) return 0.0;
  double acc = 0;
  for (size_t i = 0; i < x.size(); ++i) acc += (x[i] / mx) * y[i];
  return acc / (sy + 1e-7);
}

double percentile(std::vector<double> v, double q) {
  XAI_CHECK(!v.empty(), "percentile of no values");
  XAI_CHECK(q >= 0 && q <= 100, "percentile ", q, " outside [0, 100]");
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(i);
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (v[i + 1] - v[i]) * frac;
}

double mean(const std::vector<double>& values) {
  double s = 0;
  size_t n = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    s += v;
    ++n;
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(n);
}

double interquartile_mean(const std::vector<double>& values, double lo, double hi) {
  std::vector<double> v;
  for (double x : values)
    if (!std::isnan(x)) v.push_back(x);
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double a = percentile(v, lo), b = percentile(v, hi);
  std::vector<double> band;
  for (double x : v)
    if (x >= a && x <= b) band.push_back(x);
  return mean(band);
}

Plausibility plausibility(const std::vector<double>& x, const std::vector<double>& y) {
  XAI_CHECK(x.size() == y.size(), "plausibility: ", x.size(), " scores and ", y.size(),
            " evidence values");
  Plausibility p;
  size_t k = 0;
  for (double v : y) k += v > 0.5 ? 1 : 0;
  if (k == 0 || x.empty()) return p;
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  size_t hit = 0;
  for (size_t i = 0; i < k; ++i) hit += y[order[i]] > 0.5 ? 1 : 0;
  const double precision = static_cast<double>(hit) / static_cast<double>(k);
  const double recall = precision;  // k = |evidence|
  p.token_f1 = hit == 0 ? 0 : 2 * precision * recall / (precision + recall);
  p.token_iou = static_cast<double>(hit) / static_cast<double>(2 * k - hit);
  p.pointing = y[order[0]] > 0.5 ? 1 : 0;
  return p;
}

const std::vector<MetricDef>& sample_metrics() {
  static const std::vector<MetricDef> kDefs = {
      {"ap", true, "sum(x*y)/(sum(x)+1e-7): share of relevance on the evidence tokens"},
      {"ar", true, "sum((x/max x)*y)/(sum(y)+1e-7): max-normalised relevance on the evidence"},
      {"token_f1", true,
       "F1 of the top-k tokens (k = evidence tokens) against the evidence (ERASER's token F1)"},
      {"token_iou", true, "|top-k n evidence| / |top-k u evidence|, k = evidence tokens"},
      {"pointing", true, "1 when the most relevant token is evidence (the pointing game)"},
  };
  return kDefs;
}

MetricDef exact_match_metric() {
  return {"exact_match", true,
          "the model's generated answer equals the dataset's after SQuAD's normalisation (1 or "
          "0; dataset.target: generate)"};
}

std::string normalize_answer(const std::string& text) {
  // Lower case (Unicode), ASCII punctuation removed (Python's string.punctuation), then the words
  // split on whitespace, the articles dropped, joined by one space.
  const std::string clean = text::utf8_lossy(text);
  std::string out, word;
  auto flush = [&] {
    if (!word.empty() && word != "a" && word != "an" && word != "the") {
      if (!out.empty()) out += ' ';
      out += word;
    }
    word.clear();
  };
  for (size_t i = 0; i < clean.size();) {
    const char32_t c = text::next_code_point(clean, i);
    if (c < 0x80 && std::ispunct(static_cast<int>(c))) continue;
    if (text::is_whitespace(c)) {
      flush();
    } else {
      text::append_lowercase(word, c);
    }
  }
  flush();
  return out;
}

double exact_match(const std::string& prediction, const std::string& answer,
                   const std::string& stop) {
  std::string p = prediction;
  if (!stop.empty()) {
    const size_t at = p.find(stop);
    if (at != std::string::npos) p = p.substr(0, at);
  }
  return normalize_answer(p) == normalize_answer(answer) ? 1.0 : 0.0;
}

}  // namespace xai
