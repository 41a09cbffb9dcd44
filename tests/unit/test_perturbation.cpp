// The perturbation test (framework/eval/perturbation.h) against a brute-force reference: every
// step's input built by hand (a patch's pixels zeroed one pixel at a time; tokens deleted from
// the id sequence, a shorter input) and run alone, on an image classifier (the toy ViT), a text
// classifier (BERT fixture, bidirectional) and a language model (GPT-2 fixture, causal); the
// areas against the trapezoid rule by hand; and the run's metrics, extras and summary columns.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "datasets/toy/toy_shapes.h"
#include "framework/common/error.h"
#include "framework/eval/perturbation.h"
#include "framework/image/image_processor.h"
#include "framework/image/image_sample.h"
#include "framework/model/model.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

std::string source_path(const std::string& rel) { return std::string(XAI_SOURCE_DIR) + "/" + rel; }

// The positions removed after k steps of an order: the first k of the explained positions sorted
// by relevance (descending for positive, ascending for negative; ties by position).
std::vector<int64_t> removed(const Encoded& e, const std::vector<float>& rel, bool most,
                             int64_t k) {
  std::vector<int64_t> order;
  const int64_t last =
      e.classification() ? e.size() : e.prompt_len - 1;  // the predicting token stays
  for (int64_t t = 0; t < last; ++t)
    if (e.explain_mask[static_cast<size_t>(t)]) order.push_back(t);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return most ? rel[static_cast<size_t>(a)] > rel[static_cast<size_t>(b)]
                : rel[static_cast<size_t>(a)] < rel[static_cast<size_t>(b)];
  });
  order.resize(static_cast<size_t>(k));
  return order;
}

// The target probability of one hand-built input, alone: an image with the removed patches'
// pixels zeroed, or the sequence without the removed tokens.
double reference_prob(Model& model, const Encoded& e, const std::vector<int64_t>& gone) {
  at::NoGradGuard no_grad;
  ForwardRequest req;
  std::vector<int64_t> positions;
  if (e.image()) {
    const int64_t S = e.pixel_shape[1], G = static_cast<int64_t>(std::sqrt(e.size() - 1.0));
    const int64_t P = S / G;
    std::vector<float> px = *e.pixels;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          const int64_t patch = 1 + (y / P) * G + x / P;
          if (std::find(gone.begin(), gone.end(), patch) != gone.end())
            px[static_cast<size_t>((c * S + y) * S + x)] = 0;
        }
    req.pixel_values = at::tensor(px).view({1, 3, S, S});
    positions.push_back(0);
  } else {
    std::vector<int64_t> ids, types;
    for (int64_t t = 0; t < e.size(); ++t) {
      if (std::find(gone.begin(), gone.end(), t) != gone.end()) continue;
      ids.push_back(e.ids[static_cast<size_t>(t)]);
      if (!e.token_types.empty()) types.push_back(e.token_types[static_cast<size_t>(t)]);
    }
    const int64_t T = static_cast<int64_t>(ids.size());
    req.input_ids = at::tensor(ids).view({1, T});
    if (!types.empty()) req.token_type_ids = at::tensor(types).view({1, T});
    for (int64_t t = 0; t < e.num_targets(); ++t) {
      // A classifier reads [CLS] (never removed); a language model's logit positions come after
      // every removed prompt token, so they move back by the count removed.
      positions.push_back(
          e.classification() ? e.readout : e.logit_position(t) - static_cast<int64_t>(gone.size()));
    }
  }
  req.logit_positions = at::tensor(positions);
  const at::Tensor p = at::softmax(model.forward(req).logits.to(at::kDouble), -1);  // (1, n, V)
  double sum = 0;
  for (int64_t t = 0; t < e.num_targets(); ++t)
    sum += p[0][t][e.target_ids[static_cast<size_t>(t)]].item<double>();
  return sum / static_cast<double>(e.num_targets());
}

void expect_matches_reference(Model& model, const Encoded& e, const std::vector<float>& rel,
                              int64_t steps, const std::string& what) {
  PerturbationSettings s;
  s.enabled = true;
  s.steps = steps;
  s.batch_size = 3;  // several batches
  const PerturbationCurves c = perturbation_curves(model, e, rel, s);
  ASSERT_EQ(static_cast<int64_t>(c.positive_prob.size()), steps) << what;
  int64_t n = 0;
  const int64_t last = e.classification() ? e.size() : e.prompt_len - 1;
  for (int64_t t = 0; t < last; ++t) n += e.explain_mask[static_cast<size_t>(t)];
  double pos_area = 0, neg_area = 0;
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t k = i * n / steps;
    const double want_pos = reference_prob(model, e, removed(e, rel, true, k));
    const double want_neg = reference_prob(model, e, removed(e, rel, false, k));
    EXPECT_NEAR(c.positive_prob[static_cast<size_t>(i)], want_pos, 1e-5) << what << " step " << i;
    EXPECT_NEAR(c.negative_prob[static_cast<size_t>(i)], want_neg, 1e-5) << what << " step " << i;
    if (i > 0) {
      pos_area +=
          (c.positive_prob[static_cast<size_t>(i)] + c.positive_prob[static_cast<size_t>(i - 1)]) /
          2;
      neg_area +=
          (c.negative_prob[static_cast<size_t>(i)] + c.negative_prob[static_cast<size_t>(i - 1)]) /
          2;
    }
  }
  // Trapezoids of width 1/steps over a span of (steps - 1)/steps: the mean of the half-sums.
  EXPECT_NEAR(c.positive_auc, pos_area / static_cast<double>(steps - 1), 1e-9) << what;
  EXPECT_NEAR(c.negative_auc, neg_area / static_cast<double>(steps - 1), 1e-9) << what;
  EXPECT_EQ(c.positive_prob[0], c.negative_prob[0]) << what << ": step 0 is the clean input";
  for (double h : c.positive_correct) EXPECT_TRUE(h == 0.0 || h == 1.0);
  EXPECT_EQ(c.forward_passes, (2 * steps - 1 + 2) / 3) << what;
}

std::vector<float> seeded_relevance(const Encoded& e, uint64_t seed) {
  at::manual_seed(static_cast<int64_t>(seed));
  const at::Tensor r = at::rand({e.size()});
  std::vector<float> out(r.data_ptr<float>(), r.data_ptr<float>() + e.size());
  for (int64_t t = 0; t < e.size(); ++t)
    if (!e.explain_mask[static_cast<size_t>(t)]) out[static_cast<size_t>(t)] = NAN;
  return out;
}

TEST(Perturbation, ImagePatchesZeroedMatchTheHandBuiltImages) {
  auto model = load_model(source_path("datasets/toy/models/toy_vit"));
  const ImageProcessor p = ImageProcessor::from_file(
      source_path("datasets/toy/models/toy_vit/preprocessor_config.json"));
  toy::ToyShapeOptions o;
  const Encoded e =
      encode_image_sample(toy::toy_shape_sample(o, 5), p, {32, 4}, model->spec().labels);
  // The mask as relevance: positive perturbation removes the shape first, and the class collapses
  // faster than when the background goes first.
  std::vector<float> by_mask(e.evidence_mask.begin(), e.evidence_mask.end());
  by_mask[0] = NAN;
  expect_matches_reference(*model, e, by_mask, 10, "toy ViT, mask relevance");
  PerturbationSettings s;
  s.enabled = true;
  const PerturbationCurves c = perturbation_curves(*model, e, by_mask, s);
  EXPECT_LT(c.positive_auc + 0.2, c.negative_auc);
  expect_matches_reference(*model, e, seeded_relevance(e, 3), 4, "toy ViT, random relevance");
}

TEST(Perturbation, DroppedTokensMatchTheShorterSequence) {
  for (const char* name : {"bert", "gpt2"}) {
    auto model = load_model(fixture(std::string("models/") + name));
    const bool bert = std::string(name) == "bert";
    Encoded e;
    if (bert) {
      // [CLS] w1 .. w8 [SEP], types 0 then 1 from position 5: a pair, the class at [CLS].
      e = test::make_sample(at::tensor(std::vector<int64_t>{2, 11, 12, 13, 14, 15, 16, 17, 18, 3}),
                            10, at::tensor(std::vector<int64_t>{1}));
      e.readout = 0;
      e.token_types = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
      e.explain_mask[0] = e.explain_mask[9] = 0;
    } else {
      // 9 prompt tokens, 2 targets (teacher-forced).
      e = test::make_sample(at::tensor(std::vector<int64_t>{5, 17, 33, 2, 41, 9, 28, 13, 7, 21}), 9,
                            at::tensor(std::vector<int64_t>{21, 30}));
    }
    expect_matches_reference(*model, e, seeded_relevance(e, 1), 5, name);
    expect_matches_reference(*model, e, seeded_relevance(e, 2), 3, name);
  }
}

TEST(Perturbation, MetricsDeclareTheirDirection) {
  int lower = 0, higher = 0;
  for (const auto& m : perturbation_metrics()) (m.higher_is_better ? higher : lower) += 1;
  EXPECT_EQ(lower, 2);
  EXPECT_EQ(higher, 2);
  Encoded none = test::make_sample(at::tensor(std::vector<int64_t>{1, 2, 3}), 2,
                                   at::tensor(std::vector<int64_t>{3}));
  none.explain_mask.assign(3, 0);
  auto model = load_model(fixture("models/gpt2"));
  PerturbationSettings on;
  on.enabled = true;
  EXPECT_THROW(perturbation_curves(*model, none, {NAN, NAN, NAN}, on), Error);
}

}  // namespace
}  // namespace xai
