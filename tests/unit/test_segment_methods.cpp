// Explainers at segment granularity (Encoded::segments) against brute force: AtMan suppressing
// every token of a segment at once (and its correlated neighbours at the strongest factor any of
// its tokens gives them), built here row by row through the attention hook alone; occlusion
// dropping each segment (and windows of two) from the sequence by hand; one-token segments giving
// the token-level maps exactly; a gradient method's segment scores the sums of its token scores;
// and the deletion curves removing whole segments, each removed input run alone.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

#include "framework/config/config.h"
#include "framework/eval/perturbation.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/metrics.h"
#include "framework/model/model.h"
#include "methods/explainer.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

using test::build;

// A 12-token GPT-2 sample with 2 targets; its 10 prompt positions in 4 segments, the first
// position (as a BOS would be) unexplained.
Encoded segmented_sample(int seed) {
  at::manual_seed(seed);
  const at::Tensor t = at::randint(3, 200, {12}, at::kLong);
  Encoded e = test::make_sample(t.slice(0, 0, 11), 10, t.slice(0, 10));
  e.explain_mask[0] = 0;
  e.segments = {{1, 4, {1, 4}}, {4, 5, {4, 5}}, {5, 8, {5, 8}}, {8, 10, {8, 10}}};
  return e;
}

// Each target's log-probability with key factors `factors` (T) applied in AtMan's default mode.
std::vector<double> suppressed_logprobs(Model& m, const Encoded& s, const at::Tensor& factors) {
  at::NoGradGuard g;
  ForwardRequest req;
  req.input_ids = at::tensor(s.ids, at::kLong).view({1, -1});
  std::vector<int64_t> where;
  for (int64_t t = 0; t < s.num_targets(); ++t) where.push_back(s.logit_position(t));
  req.logit_positions = at::tensor(where, at::kLong);
  AttentionControl ctl;
  ctl.key_factors = factors.view({1, -1});
  ctl.mode = SuppressionMode::kShiftedScores;
  const at::Tensor lp = m.forward(req, ctl).logits[0].to(at::kDouble).log_softmax(-1);
  std::vector<double> out;
  for (int64_t t = 0; t < s.num_targets(); ++t)
    out.push_back(lp[t][s.target_ids[static_cast<size_t>(t)]].item<double>());
  return out;
}

TEST(SegmentMethods, AtManSuppressesEachSegmentAsOne) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  const Encoded s = segmented_sample(5);
  const int64_t T = s.size();
  const double f = 0.1;
  // Correlated suppression: the cosine similarity of the layer-0 embeddings, computed here.
  at::Tensor emb = gpt2->embed(at::tensor(s.ids, at::kLong).view({1, -1}))[0].to(at::kDouble);
  emb = emb / emb.norm(2, -1, true);
  const at::Tensor cos = at::mm(emb, emb.t());
  int64_t neighbours = 0;
  for (const char* kappa : {"off", "0.1"}) {
    ExplainContext ctx;
    const Explanation ex =
        build("atman", std::string("{factor: 0.1, batch_size: 3, kappa: ") + kappa + "}")
            ->explain(*gpt2, s, ctx);
    const std::vector<double> clean = suppressed_logprobs(*gpt2, s, at::ones({T}));
    EXPECT_EQ(ex.cost.forward_passes, 1 + 2) << "4 segments in batches of 3";
    for (const Segment& g : s.segments) {
      at::Tensor factors = at::ones({T});
      std::map<int64_t, double> nb;  // each neighbour at the factor furthest from 1
      for (int64_t i = g.first; i < g.end; ++i) {
        factors[i] = f;
        for (int64_t j = 0; j < T && std::string(kappa) != "off"; ++j) {
          const double c = std::clamp(cos[i][j].item<double>(), -1.0, 1.0);
          if ((j >= g.first && j < g.end) || c < 0.1) continue;
          const double m = (1 - f) * (1 - c) + f;
          if (!nb.count(j) || std::abs(1 - m) > std::abs(1 - nb[j])) nb[j] = m;
        }
      }
      for (const auto& [j, m] : nb) factors[j] = m;
      neighbours += static_cast<int64_t>(nb.size());
      const std::vector<double> got = suppressed_logprobs(*gpt2, s, factors);
      for (int64_t t = 0; t < s.num_targets(); ++t) {
        const double want = clean[static_cast<size_t>(t)] - got[static_cast<size_t>(t)];
        for (int64_t i = g.first; i < g.end; ++i) {  // every token carries the segment's score
          EXPECT_NEAR(ex.per_target[t][i].item<double>(), want, 2e-5 * (1 + std::abs(want)))
              << "kappa " << kappa << " segment " << g.first << " target " << t;
        }
      }
    }
    EXPECT_EQ(ex.per_target[0][0].item<float>(), 0.0f);  // unexplained: never suppressed
  }
  EXPECT_GT(neighbours, 0) << "kappa 0.1 suppressed some neighbours";
}

TEST(SegmentMethods, OneTokenSegmentsGiveTheTokenLevelMaps) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  Encoded tokens = segmented_sample(6);
  tokens.segments.clear();
  Encoded singles = tokens;
  for (int64_t i = 1; i < tokens.prompt_len; ++i)
    singles.segments.push_back({i, i + 1, {i, i + 1}});
  for (const auto& [method, params] :
       std::vector<std::pair<std::string, std::string>>{{"atman", "{kappa: 0.3, batch_size: 4}"},
                                                        {"occlusion", "{batch_size: 4}"},
                                                        {"occlusion", "{window: 2}"}}) {
    ExplainContext ctx;
    const at::Tensor a = build(method, params)->explain(*gpt2, tokens, ctx).per_target;
    const at::Tensor b = build(method, params)->explain(*gpt2, singles, ctx).per_target;
    EXPECT_TRUE(at::equal(a, b)) << method << " " << params;
  }
}

// Each target's log-probability with the positions `gone` dropped from the sequence.
std::vector<double> dropped_logprobs(Model& m, const Encoded& s, const std::vector<int64_t>& gone) {
  at::NoGradGuard g;
  std::vector<int64_t> ids, where;
  for (int64_t t = 0; t < s.size(); ++t) {
    if (std::find(gone.begin(), gone.end(), t) == gone.end())
      ids.push_back(s.ids[static_cast<size_t>(t)]);
  }
  for (int64_t t = 0; t < s.num_targets(); ++t)
    where.push_back(s.logit_position(t) - static_cast<int64_t>(gone.size()));
  ForwardRequest req;
  req.input_ids = at::tensor(ids, at::kLong).view({1, -1});
  req.logit_positions = at::tensor(where, at::kLong);
  const at::Tensor lp = m.forward(req).logits[0].to(at::kDouble).log_softmax(-1);
  std::vector<double> out;
  for (int64_t t = 0; t < s.num_targets(); ++t)
    out.push_back(lp[t][s.target_ids[static_cast<size_t>(t)]].item<double>());
  return out;
}

std::vector<int64_t> positions_of(const Segment& g) {
  std::vector<int64_t> p;
  for (int64_t i = g.first; i < g.end; ++i) p.push_back(i);
  return p;
}

TEST(SegmentMethods, OcclusionDropsEachSegmentAsOne) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  const Encoded s = segmented_sample(7);
  const std::vector<double> clean = dropped_logprobs(*gpt2, s, {});
  // Window 1: each segment alone. Window 2: a segment's score is the mean over the windows of
  // two consecutive segments holding it.
  for (int64_t w : {1, 2}) {
    ExplainContext ctx;
    const Explanation ex = build("occlusion", "{batch_size: 2, window: " + std::to_string(w) + "}")
                               ->explain(*gpt2, s, ctx);
    const size_t S = s.segments.size();
    std::vector<std::vector<double>> sum(S, std::vector<double>(2, 0.0));
    std::vector<double> count(S, 0);
    for (size_t k = 0; k + static_cast<size_t>(w) <= S; ++k) {
      std::vector<int64_t> gone;
      for (size_t j = k; j < k + static_cast<size_t>(w); ++j) {
        for (int64_t p : positions_of(s.segments[j])) gone.push_back(p);
      }
      const std::vector<double> lp = dropped_logprobs(*gpt2, s, gone);
      for (size_t j = k; j < k + static_cast<size_t>(w); ++j) {
        for (size_t t = 0; t < 2; ++t) sum[j][t] += clean[t] - lp[t];
        count[j] += 1;
      }
    }
    for (size_t j = 0; j < S; ++j) {
      for (int64_t t = 0; t < 2; ++t) {
        const double want = sum[j][static_cast<size_t>(t)] / count[j];
        for (int64_t i : positions_of(s.segments[j])) {
          EXPECT_NEAR(ex.per_target[t][i].item<double>(), want, 1e-5 * (1 + std::abs(want)))
              << "window " << w << " segment " << j << " target " << t;
        }
      }
    }
  }
}

TEST(SegmentMethods, SegmentScoresAreReadOrSummedAndStoredAsExtras) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  const Encoded s = segmented_sample(8);
  ExplainContext ctx;
  // A gradient method: the segment's scores are sums of its tokens'.
  auto ixg = build("input_x_gradient", "{granularity: sentence}");
  EXPECT_EQ(ixg->granularity().name(), "sentence");
  EXPECT_FALSE(ixg->perturbs_segments());
  Explanation ex = ixg->explain(*gpt2, s, ctx);
  ASSERT_EQ(keep_explained(ex, s), "");
  add_segment_scores(ex, s, false);
  const at::Tensor spans = ex.extras.at(kSegmentsExtra), rel = ex.extras.at(kSegmentRelevanceExtra),
                   per = ex.extras.at(kSegmentPerTargetExtra);
  ASSERT_EQ(spans.sizes(), (at::IntArrayRef{4, 4}));
  ASSERT_EQ(per.sizes(), (at::IntArrayRef{2, 4}));
  for (int64_t g = 0; g < 4; ++g) {
    const Segment& seg = s.segments[static_cast<size_t>(g)];
    EXPECT_EQ(spans[g][0].item<float>(), seg.first);
    EXPECT_EQ(spans[g][1].item<float>(), seg.end);
    EXPECT_EQ(spans[g][3].item<float>(), seg.span.end);
    EXPECT_NEAR(rel[g].item<double>(),
                ex.relevance.slice(0, seg.first, seg.end).sum().item<double>(), 1e-5);
    for (int64_t t = 0; t < 2; ++t) {
      EXPECT_NEAR(per[t][g].item<double>(),
                  ex.per_target[t].slice(0, seg.first, seg.end).sum().item<double>(), 1e-5);
    }
  }
  EXPECT_GT(rel.abs().sum().item<double>(), 0);
  // AtMan: every token holds its segment's score, read once (not summed over the tokens).
  auto atman = build("atman", "{kappa: off, granularity: word}");
  EXPECT_TRUE(atman->perturbs_segments());
  Explanation a = atman->explain(*gpt2, s, ctx);
  ASSERT_EQ(keep_explained(a, s), "");
  add_segment_scores(a, s, true);
  for (int64_t g = 0; g < 4; ++g) {
    const int64_t first = s.segments[static_cast<size_t>(g)].first;
    EXPECT_EQ(a.extras.at(kSegmentRelevanceExtra)[g].item<float>(),
              a.relevance[first].item<float>());
  }
  // The granularity is part of the stored parameters (and absent at token level).
  EXPECT_EQ(nlohmann::json::parse(atman->parameters_json()).at("granularity"), "word");
  EXPECT_FALSE(
      nlohmann::json::parse(build("atman", "{}")->parameters_json()).contains("granularity"));
  EXPECT_NE(atman->settings_line().find("word segments"), std::string::npos);
  test::expect_error([] { build("saliency", "{granularity: lines}"); },
                     {"granularity: granularity 'lines' is not one of"});
}

TEST(SegmentMethods, DeletionCurvesRemoveWholeSegments) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  const Encoded s = segmented_sample(9);
  // The last segment holds the predicting position 9, which is never removed.
  const std::vector<float> rel = {0.5f, 2.0f, 1.0f, 0.25f};  // order: 1, 2, 0, 3
  PerturbationSettings set;
  set.enabled = true;
  set.steps = 4;
  set.batch_size = 3;
  set.eraser = {25, 50};
  const PerturbationCurves c = perturbation_curves(*gpt2, s, rel, set);
  auto gone_of = [&](const std::vector<size_t>& segs) {
    std::vector<int64_t> g;
    for (size_t k : segs) {
      for (int64_t p : positions_of(s.segments[k])) {
        if (p < s.prompt_len - 1) g.push_back(p);
      }
    }
    std::sort(g.begin(), g.end());
    return g;
  };
  auto prob = [&](const std::vector<size_t>& segs) {
    const std::vector<double> lp = dropped_logprobs(*gpt2, s, gone_of(segs));
    return (std::exp(lp[0]) + std::exp(lp[1])) / 2;
  };
  const std::vector<size_t> most = {1, 2, 0, 3}, least = {3, 0, 2, 1};
  for (size_t i = 0; i < 4; ++i) {  // step i removes i of the 4 segments
    const std::vector<size_t> m(most.begin(), most.begin() + static_cast<std::ptrdiff_t>(i));
    const std::vector<size_t> l(least.begin(), least.begin() + static_cast<std::ptrdiff_t>(i));
    const std::vector<size_t> ins(most.begin() + static_cast<std::ptrdiff_t>(i), most.end());
    EXPECT_NEAR(c.positive_prob[i], prob(m), 1e-5) << "MoRF step " << i;
    EXPECT_NEAR(c.negative_prob[i], prob(l), 1e-5) << "LeRF step " << i;
    EXPECT_NEAR(c.insertion_prob[i], prob(ins), 1e-5) << "insertion step " << i;
  }
  // ERASER at 25 % and 50 % of 4 segments: the top 1 and 2.
  EXPECT_NEAR(c.comprehensiveness[0], c.clean_prob - prob({1}), 1e-5);
  EXPECT_NEAR(c.comprehensiveness[1], c.clean_prob - prob({1, 2}), 1e-5);
  EXPECT_NEAR(c.sufficiency[1], c.clean_prob - prob({0, 3}), 1e-5);
  EXPECT_GT(std::abs(c.positive_prob[1] - c.clean_prob), 1e-4) << "a removal mattered";
  test::expect_error([&] { perturbation_curves(*gpt2, s, std::vector<float>(12, 1.0f), set); },
                     {"12 scores for 4 segments"});
}

// A run at sentence granularity: each explainer's segments stored beside its token maps, the
// sentence holding the answer found by the toy task's evidence, AP over the segments recomputed
// here from what was stored, and the faithfulness curves run over segments.
TEST(SegmentMethods, ARunStoresSegmentsAndScoresThemAgainstTheEvidence) {
  test::TempDir out;
  const std::string yaml = out.path() + "/exp.yaml";
  {
    std::ofstream f(yaml);
    f << "name: seg\nmodels: [{name: toy, path: datasets/toy/models/toy_gpt2}]\n"
      << "dataset: {type: toy, path: datasets/toy/data/test.json, limit: 3}\n"
      << "explainers:\n  - {name: atman_s, method: atman, kappa: off, granularity: sentence}\n"
      << "  - {name: ixg_s, method: input_x_gradient, granularity: sentence}\n"
      << "  - {name: occlusion, granularity: sentence}\n  - {name: saliency}\n"
      << "metrics: {perturbation: {steps: 3, eraser: [50]}}\n"
      << "runtime: {threads: 1, progress: off}\n";
  }
  const RunResult r = test::run_at_root(yaml, {"output=" + out.path() + "/run"});
  ASSERT_EQ(r.failures, 0);
  const ResultsReader reader(r.results_h5);
  const SampleTable samples = reader.samples("toy");
  for (const char* x : {"atman_s", "ixg_s", "occlusion"}) {
    const ExplainerTable t = reader.explainer("toy", x);
    ASSERT_EQ(t.rows(), 3u) << x;
    EXPECT_EQ(nlohmann::json::parse(t.info.parameters_json).at("granularity"), "sentence");
    double top_is_evidence = 0;
    for (size_t j = 0; j < t.rows(); ++j) {
      const ExtraArray seg = t.extras.at(kSegmentsExtra).row(j);
      const ExtraArray rel = t.extras.at(kSegmentRelevanceExtra).row(j);
      ASSERT_EQ(seg.shape.size(), 2u);
      const int64_t S = seg.shape[0];
      ASSERT_EQ(rel.values.size(), static_cast<size_t>(S)) << x;
      EXPECT_GE(S, 4) << "the toy contexts have 4 to 8 sentences, then the question";
      const size_t i = static_cast<size_t>(t.sample[j]);
      const std::string& prompt = samples.prompts[i];
      const std::vector<float> evidence = samples.evidence.row(i);
      std::vector<double> xs, ys;
      for (int64_t s = 0; s < S; ++s) {
        const auto b = static_cast<size_t>(seg.values[static_cast<size_t>(s * 4 + 2)]);
        const auto e = static_cast<size_t>(seg.values[static_cast<size_t>(s * 4 + 3)]);
        const std::string text = prompt.substr(b, e - b);
        EXPECT_TRUE(text.back() == '.' || text.back() == '?' || text.back() == ':') << text;
        float ev = 0;
        for (auto p = static_cast<int64_t>(seg.values[static_cast<size_t>(s * 4)]);
             p < static_cast<int64_t>(seg.values[static_cast<size_t>(s * 4 + 1)]); ++p)
          ev = std::max(ev, evidence[static_cast<size_t>(p)]);
        xs.push_back(std::abs(rel.values[static_cast<size_t>(s)]));
        ys.push_back(ev);
      }
      EXPECT_DOUBLE_EQ(std::accumulate(ys.begin(), ys.end(), 0.0), 1.0) << "one answer sentence";
      EXPECT_NEAR(t.metrics.at("ap")[j], average_precision(xs, ys), 1e-9) << x;
      EXPECT_NEAR(t.metrics.at("ar")[j], average_recall(xs, ys), 1e-9) << x;
      EXPECT_FALSE(std::isnan(t.metrics.at("pos_auc")[j])) << x;
      top_is_evidence += t.metrics.at("pointing")[j];
    }
    if (std::string(x) != "ixg_s") {
      EXPECT_GE(top_is_evidence, 2) << x << ": the answer's sentence leads (or the question)";
    }
  }
  // Token level keeps no segments.
  EXPECT_EQ(reader.explainer("toy", "saliency").extras.count(kSegmentsExtra), 0u);

  // An image model cannot take segments: refused before any work, naming the key.
  std::string log;
  test::expect_error(
      [&] {
        test::run_at_root("configs/images.yaml",
                          {"output=" + out.path() + "/img", "explainers[0].granularity=word"},
                          false, &log);
      },
      {"explainers[0].granularity", "groups the tokens of a text", "reads images"});
}

}  // namespace
}  // namespace xai
