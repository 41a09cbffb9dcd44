// The faithfulness curves (framework/eval/perturbation.h) against a brute-force reference: every
// deletion, insertion and ERASER input built by hand for each removal operator (a patch's pixels
// zeroed one pixel at a time; tokens deleted from the id sequence, a shorter input; ids replaced;
// embeddings zeroed; keys hidden) and run alone, AOPC and the areas summed by hand, on an image
// classifier (the toy ViT), a text classifier (BERT fixture, bidirectional) and a language model
// (GPT-2 fixture, causal); the areas against the trapezoid rule by hand; and the run's metrics,
// extras and summary columns.
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

// The explained positions but the `from` most relevant (what insertion and sufficiency remove).
std::vector<int64_t> tail(const Encoded& e, const std::vector<float>& rel, int64_t from) {
  int64_t n = 0;
  const int64_t last = e.classification() ? e.size() : e.prompt_len - 1;
  for (int64_t t = 0; t < last; ++t) n += e.explain_mask[static_cast<size_t>(t)];
  std::vector<int64_t> all = removed(e, rel, true, n);
  return std::vector<int64_t>(all.begin() + from, all.end());
}

struct Value {
  double prob = 0, logprob = 0;
};

// The target's probability and log-probability (means over the target tokens) for one
// hand-built input, alone: an image with the removed patches' pixels zeroed (drop) or their
// embeddings zeroed; the sequence without the removed tokens (drop), with their ids replaced by
// `token` (replace), their word embeddings zeroed (zero), or their keys hidden (attention).
Value reference_value(Model& model, const Encoded& e, const std::vector<int64_t>& gone,
                      Removal removal, int64_t token) {
  at::NoGradGuard no_grad;
  ForwardRequest req;
  AttentionControl ctl;
  std::vector<int64_t> positions;
  auto is_gone = [&](int64_t t) { return std::find(gone.begin(), gone.end(), t) != gone.end(); };
  const int64_t T = e.size();
  if (e.image() && removal == Removal::kDrop) {
    const int64_t S = e.pixel_shape[1], G = static_cast<int64_t>(std::sqrt(T - 1.0));
    const int64_t P = S / G;
    std::vector<float> px = *e.pixels;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          if (is_gone(1 + (y / P) * G + x / P)) px[static_cast<size_t>((c * S + y) * S + x)] = 0;
        }
    req.pixel_values = at::tensor(px).view({1, 3, S, S});
    positions.push_back(0);
  } else if (removal == Removal::kDrop) {
    std::vector<int64_t> ids, types;
    for (int64_t t = 0; t < T; ++t) {
      if (is_gone(t)) continue;
      ids.push_back(e.ids[static_cast<size_t>(t)]);
      if (!e.token_types.empty()) types.push_back(e.token_types[static_cast<size_t>(t)]);
    }
    const int64_t kept = static_cast<int64_t>(ids.size());
    req.input_ids = at::tensor(ids).view({1, kept});
    if (!types.empty()) req.token_type_ids = at::tensor(types).view({1, kept});
    for (int64_t t = 0; t < e.num_targets(); ++t) {
      // A classifier reads [CLS] (never removed); a language model's logit positions come after
      // every removed prompt token, so they move back by the count removed.
      positions.push_back(
          e.classification() ? e.readout : e.logit_position(t) - static_cast<int64_t>(gone.size()));
    }
  } else {
    at::Tensor types;
    if (!e.token_types.empty()) types = at::tensor(e.token_types).view({1, T});
    if (e.image()) {
      req.pixel_values = at::tensor(*e.pixels).view({1, 3, e.pixel_shape[1], e.pixel_shape[2]});
    } else {
      std::vector<int64_t> ids = e.ids;
      if (removal == Removal::kReplace)
        for (int64_t t : gone) ids[static_cast<size_t>(t)] = token;
      req.input_ids = at::tensor(ids).view({1, T});
      req.token_type_ids = types;
    }
    if (removal == Removal::kZero) {
      at::Tensor x = e.image() ? model.embed_pixels(req.pixel_values) : model.embed(req.input_ids);
      x = x.clone();
      for (int64_t t : gone) x[0][t].zero_();
      req = ForwardRequest();
      req.inputs_embeds = x;
      req.token_type_ids = types;
    } else if (removal == Removal::kAttention) {
      at::Tensor f = at::ones({1, T});
      for (int64_t t : gone) f[0][t] = 0;
      ctl.key_factors = f;
      ctl.mode = SuppressionMode::kLogAdditive;
    }
    for (int64_t t = 0; t < e.num_targets(); ++t) positions.push_back(e.logit_position(t));
  }
  req.logit_positions = at::tensor(positions);
  const at::Tensor lp = at::log_softmax(model.forward(req, ctl).logits.to(at::kDouble), -1);
  Value v;
  for (int64_t t = 0; t < e.num_targets(); ++t) {
    const double l = lp[0][t][e.target_ids[static_cast<size_t>(t)]].item<double>();
    v.prob += std::exp(l);
    v.logprob += l;
  }
  v.prob /= static_cast<double>(e.num_targets());
  v.logprob /= static_cast<double>(e.num_targets());
  return v;
}

void expect_matches_reference(Model& model, const Encoded& e, const std::vector<float>& rel,
                              int64_t steps, const std::string& what,
                              Removal removal = Removal::kDrop, int64_t prefix_passes = 0) {
  PerturbationSettings s;
  s.enabled = true;
  s.steps = steps;
  s.batch_size = 3;  // several batches
  s.removal = removal;
  s.token = "7";
  s.eraser = {1, 20, 50};
  const int64_t token = 7;
  const PerturbationCurves c = perturbation_curves(model, e, rel, s);
  ASSERT_EQ(static_cast<int64_t>(c.positive_prob.size()), steps) << what;
  int64_t n = 0;
  const int64_t last = e.classification() ? e.size() : e.prompt_len - 1;
  for (int64_t t = 0; t < last; ++t) n += e.explain_mask[static_cast<size_t>(t)];
  auto near = [&](double got, double want, const std::string& where) {
    EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want))) << what << ": " << where;
  };
  const Value clean = reference_value(model, e, {}, removal, token);
  near(c.clean_prob, clean.prob, "clean");
  near(c.clean_logprob, clean.logprob, "clean log");
  double pos_area = 0, neg_area = 0, ins_area = 0, aopc_pos = 0, aopc_neg = 0;
  std::vector<double> prev(3);
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t k = i * n / steps;
    const std::string at = " step " + std::to_string(i);
    const Value pos = reference_value(model, e, removed(e, rel, true, k), removal, token);
    const Value neg = reference_value(model, e, removed(e, rel, false, k), removal, token);
    const Value ins = reference_value(model, e, tail(e, rel, k), removal, token);
    const size_t u = static_cast<size_t>(i);
    near(c.positive_prob[u], pos.prob, "MoRF" + at);
    near(c.negative_prob[u], neg.prob, "LeRF" + at);
    near(c.insertion_prob[u], ins.prob, "insertion" + at);
    near(c.positive_logprob[u], pos.logprob, "MoRF log" + at);
    near(c.negative_logprob[u], neg.logprob, "LeRF log" + at);
    near(c.insertion_logprob[u], ins.logprob, "insertion log" + at);
    aopc_pos += clean.logprob - pos.logprob;
    aopc_neg += clean.logprob - neg.logprob;
    if (i > 0) {
      pos_area += (pos.prob + prev[0]) / 2;
      neg_area += (neg.prob + prev[1]) / 2;
      ins_area += (ins.prob + prev[2]) / 2;
    }
    prev = {pos.prob, neg.prob, ins.prob};
  }
  // Trapezoids of width 1/steps over a span of (steps - 1)/steps: the mean of the half-sums.
  const double span = static_cast<double>(steps - 1);
  near(c.positive_auc, pos_area / span, "pos_auc");
  near(c.negative_auc, neg_area / span, "neg_auc");
  near(c.insertion_auc, ins_area / span, "ins_auc");
  near(c.positive_auc_norm, pos_area / span / clean.prob, "pos_auc_norm");
  near(c.insertion_auc_norm, ins_area / span / clean.prob, "ins_auc_norm");
  near(c.aopc_positive, aopc_pos / static_cast<double>(steps), "AOPC MoRF");
  near(c.aopc_negative, aopc_neg / static_cast<double>(steps), "AOPC LeRF");
  // ERASER: k% of n is ceil(k n / 100), at least 1.
  ASSERT_EQ(c.comprehensiveness.size(), 3u) << what;
  double comp = 0, suff = 0;
  for (size_t j = 0; j < 3; ++j) {
    const int64_t pct = s.eraser[j];
    const int64_t k = std::min(n, std::max<int64_t>(1, (pct * n + 99) / 100));
    const double want_comp =
        clean.prob - reference_value(model, e, removed(e, rel, true, k), removal, token).prob;
    const double want_suff =
        clean.prob - reference_value(model, e, tail(e, rel, k), removal, token).prob;
    near(c.comprehensiveness[j], want_comp, "comprehensiveness at " + std::to_string(pct));
    near(c.sufficiency[j], want_suff, "sufficiency at " + std::to_string(pct));
    comp += want_comp / 3;
    suff += want_suff / 3;
  }
  near(c.comprehensiveness_mean, comp, "comprehensiveness");
  near(c.sufficiency_mean, suff, "sufficiency");
  EXPECT_EQ(c.positive_prob[0], c.negative_prob[0]) << what << ": step 0 is the clean input";
  for (double h : c.positive_correct) EXPECT_TRUE(h == 0.0 || h == 1.0);
  // The inputs: clean, 2 (steps - 1) deletions, steps insertions, 2 per ERASER k; 3 per batch.
  EXPECT_EQ(c.forward_passes, (1 + 2 * (steps - 1) + steps + 6 + 2) / 3 + prefix_passes) << what;
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
  for (Removal r : {Removal::kAttention, Removal::kZero}) {
    expect_matches_reference(*model, e, seeded_relevance(e, 6), 3,
                             std::string("toy ViT, removal ") + removal_name(r), r);
  }
  PerturbationSettings replace;
  replace.removal = Removal::kReplace;
  EXPECT_THROW(perturbation_curves(*model, e, by_mask, replace), Error);
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
    for (Removal r : {Removal::kAttention, Removal::kReplace, Removal::kZero}) {
      expect_matches_reference(*model, e, seeded_relevance(e, 4), 4,
                               std::string(name) + ", removal " + removal_name(r), r);
    }
    if (!bert) {
      // The first three tokens unexplained: on the causal model their keys and values are
      // computed once and reused by every batch (one more forward, for that prefix).
      Encoded late = e;
      late.explain_mask[0] = late.explain_mask[1] = late.explain_mask[2] = 0;
      for (Removal r : {Removal::kDrop, Removal::kAttention, Removal::kReplace, Removal::kZero}) {
        expect_matches_reference(*model, late, seeded_relevance(late, 5), 4,
                                 std::string(name) + " after a prefix, removal " + removal_name(r),
                                 r, 1);
      }
    }
  }
}

TEST(Perturbation, ReplaceByMaskUsesTheTokenizersMaskToken) {
  auto model = load_model(fixture("models/bert"));
  Encoded e = test::make_sample(at::tensor(std::vector<int64_t>{2, 11, 12, 13, 14, 15, 3}), 7,
                                at::tensor(std::vector<int64_t>{1}));
  e.readout = 0;
  e.explain_mask[0] = e.explain_mask[6] = 0;
  const std::vector<float> rel = seeded_relevance(e, 9);
  PerturbationSettings by_id;
  by_id.removal = Removal::kReplace;
  by_id.token = "7";
  by_id.steps = 3;
  PerturbationSettings by_mask = by_id;
  by_mask.token = "mask";
  test::expect_error([&] { perturbation_curves(*model, e, rel, by_mask); },
                     {"token 'mask': the tokenizer has no mask token"});
  e.mask_id = 7;  // as encode_sample sets it from the tokenizer
  const PerturbationCurves a = perturbation_curves(*model, e, rel, by_id),
                           b = perturbation_curves(*model, e, rel, by_mask);
  EXPECT_EQ(a.positive_prob, b.positive_prob);
  EXPECT_EQ(a.insertion_prob, b.insertion_prob);
  EXPECT_EQ(a.sufficiency, b.sufficiency);
  by_mask.token = "8";
  EXPECT_NE(perturbation_curves(*model, e, rel, by_mask).insertion_prob, a.insertion_prob);
}

TEST(Perturbation, MetricsDeclareTheirDirection) {
  int lower = 0, higher = 0;
  for (const auto& m : perturbation_metrics()) (m.higher_is_better ? higher : lower) += 1;
  EXPECT_EQ(lower, 5);  // pos_auc, pos_acc, pos_auc_norm, aopc_lerf, sufficiency
  EXPECT_EQ(higher, 6);
  for (const auto& m : perturbation_metrics()) {
    const std::string d = m.description;
    EXPECT_NE(d.find(m.higher_is_better ? "higher is better" : "lower is better"),
              std::string::npos)
        << m.name;
  }
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
