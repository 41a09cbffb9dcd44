// What the runner and `explain` add around every explainer (methods/explainer.h): the granularity
// every method accepts, the sample's segments at it, the segments' scores stored beside the token
// maps, and a contrast's foil.
#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "methods/explainer.h"

namespace xai {

std::string Explainer::parameters_json() const {
  if (granularity_.token()) return params_json();
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(params_json());
  j["granularity"] = granularity_.name();
  return j.dump();
}

std::string Explainer::settings_line() const {
  const std::string s = settings();
  if (granularity_.token()) return s;
  const std::string g = granularity_.name() + " segments";
  return s.empty() ? g : s + ", " + g;
}

bool is_segment_extra(const std::string& name) {
  return name == kSegmentsExtra || name == kSegmentRelevanceExtra || name == kSegmentPerTargetExtra;
}

Encoded with_segments(const Explainer& explainer, const std::string& prompt, const Encoded& sample,
                      std::string* level) {
  Encoded out = sample;
  Segmentation s = make_segments(prompt, sample, explainer.granularity());
  out.segments = std::move(s.segments);
  if (level) *level = s.level;
  return out;
}

void add_segment_scores(Explanation& ex, const Encoded& sample, bool perturbed) {
  const int64_t S = static_cast<int64_t>(sample.segments.size());
  if (S == 0) return;
  const int64_t n = ex.per_target.size(0);
  at::Tensor spans = at::empty({S, 4}, at::kFloat);
  at::Tensor rel = at::empty({S}, at::kFloat);
  at::Tensor per = at::empty({n, S}, at::kFloat);
  const at::Tensor r = ex.relevance.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor p = ex.per_target.to(at::kCPU, at::kDouble).contiguous();
  auto sa = spans.accessor<float, 2>();
  auto ra = rel.accessor<float, 1>();
  auto pa = per.accessor<float, 2>();
  auto rr = r.accessor<double, 1>();
  auto pp = p.accessor<double, 2>();
  for (int64_t s = 0; s < S; ++s) {
    const Segment& g = sample.segments[static_cast<size_t>(s)];
    XAI_CHECK(g.first >= 0 && g.first < g.end && g.end <= sample.size(), "internal: segment ", s,
              " covers positions ", g.first, "..", g.end);
    sa[s][0] = static_cast<float>(g.first);
    sa[s][1] = static_cast<float>(g.end);
    sa[s][2] = static_cast<float>(g.span.begin);
    sa[s][3] = static_cast<float>(g.span.end);
    const int64_t last = perturbed ? g.first + 1 : g.end;
    double rs = 0;
    for (int64_t i = g.first; i < last; ++i) rs += rr[i];
    ra[s] = static_cast<float>(rs);
    for (int64_t t = 0; t < n; ++t) {
      double ps = 0;
      for (int64_t i = g.first; i < last; ++i) ps += pp[t][i];
      pa[t][s] = static_cast<float>(ps);
    }
  }
  ex.extras[kSegmentsExtra] = spans;
  ex.extras[kSegmentRelevanceExtra] = rel;
  ex.extras[kSegmentPerTargetExtra] = per;
}

void add_contrast(Explanation& ex, const Encoded& sample) {
  if (sample.foil_ids.empty()) return;
  std::vector<float> ids(sample.foil_ids.begin(), sample.foil_ids.end());
  ex.extras[kFoilIdsExtra] = at::tensor(ids, at::kFloat);
}

}  // namespace xai
