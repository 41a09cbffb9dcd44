// Occlusion (methods/occlusion.h) against a brute-force loop that builds every removed input by
// hand and runs it alone: drop (the shorter sequence itself, on GPT-2 with two targets and on a
// BERT text pair with token types; the patch's pixels zeroed on the ViT), replace and zero on
// GPT-2, windows of 2; attention removal against AtMan with a factor of 0 in log-additive mode
// (the same hiding through AtMan's own batching and prefix reuse); batch sizes; errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/statistics.h"
#include "framework/model/model.h"
#include "methods/explainer.h"
#include "methods/occlusion.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

using test::build;

// Target t's log-probability from one hand-built request.
std::vector<double> logprobs(Model& m, ForwardRequest req, const Encoded& s,
                             const std::vector<int64_t>& where) {
  at::NoGradGuard g;
  req.logit_positions = at::tensor(where, at::kLong);
  const at::Tensor lp = m.forward(req).logits[0].log_softmax(-1);  // (n, V)
  std::vector<double> out;
  for (int64_t t = 0; t < s.num_targets(); ++t) {
    out.push_back(lp[t][s.target_ids[static_cast<size_t>(t)]].item<double>());
  }
  return out;
}

std::vector<int64_t> logit_positions_of(const Encoded& s) {
  std::vector<int64_t> p;
  for (int64_t t = 0; t < s.num_targets(); ++t) p.push_back(s.logit_position(t));
  return p;
}

// The brute force: per_target[t][j] = f_t(clean) - mean over the windows of `w` consecutive
// explained positions holding j of f_t(without the window), the removed input from `removed`.
at::Tensor brute_force(
    Model& m, const Encoded& s, int64_t w,
    const std::function<std::vector<double>(const std::vector<int64_t>&)>& removed) {
  const std::vector<double> clean = removed({});
  std::vector<int64_t> explained;
  for (int64_t t = 0; t < s.size(); ++t)
    if (s.explain_mask[static_cast<size_t>(t)]) explained.push_back(t);
  at::Tensor sums = at::zeros({s.num_targets(), s.size()}, at::kDouble);
  std::vector<double> count(static_cast<size_t>(s.size()), 0);
  for (size_t k = 0; k + static_cast<size_t>(w) <= explained.size(); ++k) {
    const std::vector<int64_t> gone(explained.begin() + static_cast<int64_t>(k),
                                    explained.begin() + static_cast<int64_t>(k) + w);
    const std::vector<double> f = removed(gone);
    for (int64_t j : gone) {
      for (int64_t t = 0; t < s.num_targets(); ++t)
        sums[t][j] += clean[static_cast<size_t>(t)] - f[static_cast<size_t>(t)];
      count[static_cast<size_t>(j)] += 1;
    }
  }
  for (int64_t j = 0; j < s.size(); ++j)
    if (count[static_cast<size_t>(j)] > 0) sums.select(1, j) /= count[static_cast<size_t>(j)];
  (void)m;
  return sums;
}

// Text: the input without `gone` dropped (the shorter sequence), with `gone` replaced by `token`,
// or with their embeddings zeroed.
std::vector<double> removed_text(Model& m, const Encoded& s, const std::vector<int64_t>& gone,
                                 const std::string& how, int64_t token = 0) {
  auto is_gone = [&](int64_t t) { return std::find(gone.begin(), gone.end(), t) != gone.end(); };
  ForwardRequest req;
  std::vector<int64_t> where = logit_positions_of(s);
  if (how == "drop") {
    std::vector<int64_t> ids, types;
    for (int64_t t = 0; t < s.size(); ++t) {
      if (is_gone(t)) continue;
      ids.push_back(s.ids[static_cast<size_t>(t)]);
      if (!s.token_types.empty()) types.push_back(s.token_types[static_cast<size_t>(t)]);
    }
    req.input_ids = at::tensor(ids, at::kLong).view({1, -1});
    if (!types.empty()) req.token_type_ids = at::tensor(types, at::kLong).view({1, -1});
    for (int64_t& p : where) {  // the position the same token (or, dropped, its left neighbour) has
      int64_t before = 0;
      for (int64_t g : gone) before += g < p;
      p = p - before - (is_gone(p) ? 1 : 0);
    }
    return logprobs(m, req, s, where);
  }
  at::Tensor ids = at::tensor(s.ids, at::kLong).view({1, -1});
  if (!s.token_types.empty())
    req.token_type_ids = at::tensor(s.token_types, at::kLong).view({1, -1});
  if (how == "replace") {
    for (int64_t g : gone) ids[0][g] = token;
    req.input_ids = ids;
  } else {  // zero
    at::Tensor e = m.embed(ids).clone();
    for (int64_t g : gone) e[0][g].zero_();
    req.inputs_embeds = e;
  }
  return logprobs(m, req, s, where);
}

TEST(Occlusion, TextRemovalsMatchTheBruteForce) {
  auto gpt2 = load_model(fixture("models/gpt2"));
  at::manual_seed(3);
  const at::Tensor t = at::randint(3, 200, {12}, at::kLong);
  const Encoded lm = test::make_sample(t.slice(0, 0, 11), 9, t.slice(0, 9));  // 2 targets
  struct Case {
    std::string params, how;
    int64_t window;
  };
  for (const Case& c :
       {Case{"{}", "drop", 1}, Case{"{removal: replace, token: '7'}", "replace", 1},
        Case{"{removal: zero}", "zero", 1}, Case{"{window: 2}", "drop", 2},
        Case{"{removal: zero, window: 3, batch_size: 2}", "zero", 3},
        // Small batches start later: the clean prefix before them is reused (and
        // a batch that drops the predicting token starts before its neighbour).
        Case{"{batch_size: 2}", "drop", 1}, Case{"{window: 2, batch_size: 3}", "drop", 2},
        Case{"{removal: replace, token: '7', batch_size: 2}", "replace", 1}}) {
    ExplainContext ctx;
    const Explanation e = build("occlusion", c.params)->explain(*gpt2, lm, ctx);
    const at::Tensor want = brute_force(*gpt2, lm, c.window, [&](const std::vector<int64_t>& g) {
      return removed_text(*gpt2, lm, g, c.how, 7);
    });
    EXPECT_LT((e.per_target.to(at::kDouble) - want).abs().max().item<double>(),
              1e-5 * (1 + want.abs().max().item<double>()))
        << c.params << "\n"
        << e.per_target << want;
    EXPECT_GT(want.abs().max().item<double>(), 1e-3) << c.params << ": the removals mattered";
  }
  // The same scores whatever the batch.
  ExplainContext ctx;
  const at::Tensor one = build("occlusion", "{batch_size: 1}")->explain(*gpt2, lm, ctx).per_target;
  const at::Tensor many =
      build("occlusion", "{batch_size: 64}")->explain(*gpt2, lm, ctx).per_target;
  EXPECT_LT((one - many).abs().max().item<double>(), 1e-5);

  // A BERT text pair (token types 0 then 1), the class at [CLS]: dropping keeps each kept token's
  // type.
  auto bert = load_model(fixture("models/bert"));
  Encoded pair =
      test::class_sample(at::tensor(std::vector<int64_t>{2, 11, 25, 40, 3, 17, 33, 3}), 1);
  pair.token_types = {0, 0, 0, 0, 0, 1, 1, 1};
  pair.explain_mask = {0, 1, 1, 1, 0, 1, 1, 0};  // [CLS] and [SEP] are not explained
  ExplainContext c2;
  const Explanation e = build("occlusion", "{}")->explain(*bert, pair, c2);
  const at::Tensor want = brute_force(*bert, pair, 1, [&](const std::vector<int64_t>& g) {
    return removed_text(*bert, pair, g, "drop");
  });
  EXPECT_LT((e.per_target.to(at::kDouble) - want).abs().max().item<double>(),
            1e-5 * (1 + want.abs().max().item<double>()));
  EXPECT_EQ(e.per_target[0][0].item<float>(), 0.0f);  // not explained: not removed
}

TEST(Occlusion, AttentionRemovalIsAtMansHidingWithAFactorOfZero) {
  for (const char* m : {"gpt2", "llama_gqa", "bert"}) {
    auto model = load_model(fixture(std::string("models/") + m));
    at::manual_seed(4);
    Encoded s;
    if (std::string(m) == "bert") {
      s = test::class_sample(at::tensor(std::vector<int64_t>{2, 14, 27, 9, 31, 3}), 2);
    } else {
      const at::Tensor t = at::randint(3, 200, {10}, at::kLong);
      s = test::make_sample(t.slice(0, 0, 9), 8, t.slice(0, 8));
    }
    ExplainContext ctx;
    const at::Tensor got = build("occlusion", "{removal: attention, batch_size: 3}")
                               ->explain(*model, s, ctx)
                               .per_target;
    const at::Tensor want =
        build("atman", "{factor: 0, kappa: off, mode: log_additive, aggregation: abs}")
            ->explain(*model, s, ctx)
            .per_target;  // CE(hidden) - CE(clean) = logprob(clean) - logprob(hidden)
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5 * (1 + want.abs().max().item<double>()))
        << m << "\n"
        << got << want;
    EXPECT_GT(want.abs().max().item<double>(), 1e-4) << m;
  }
}

TEST(Occlusion, AnImagePatchIsRemovedByZeroingItsPixels) {
  auto vit = load_model(fixture("models/vit"));
  at::manual_seed(8);
  const at::Tensor pixels = at::randn({3, 32, 32});
  Encoded s = test::image_sample(pixels, vit->spec().num_patches(), 1);
  ExplainContext ctx;
  // [CLS] is no patch: drop cannot remove it (an image sample leaves it unexplained).
  test::expect_error([&] { build("occlusion", "{}")->explain(*vit, s, ctx); },
                     {"removal 'drop' zeroes an image's patches, and position 0 is its [CLS]"});
  s.explain_mask[0] = 0;
  const Explanation e = build("occlusion", "{}")->explain(*vit, s, ctx);
  const int64_t grid = 4, P = 8;
  const at::Tensor want = brute_force(*vit, s, 1, [&](const std::vector<int64_t>& gone) {
    at::Tensor px = pixels.clone();
    for (int64_t t : gone) {
      px.narrow(1, ((t - 1) / grid) * P, P).narrow(2, ((t - 1) % grid) * P, P).zero_();
    }
    ForwardRequest req;
    req.pixel_values = px.unsqueeze(0);
    return logprobs(*vit, req, s, {0});
  });
  EXPECT_LT((e.per_target.to(at::kDouble) - want).abs().max().item<double>(),
            1e-5 * (1 + want.abs().max().item<double>()));
  // zero: the patch's embedding (the layer-0 input [CLS] and patches) set to 0.
  const at::Tensor zero = build("occlusion", "{removal: zero}")->explain(*vit, s, ctx).per_target;
  const at::Tensor want_zero = brute_force(*vit, s, 1, [&](const std::vector<int64_t>& gone) {
    at::Tensor e = vit->embed_pixels(pixels.unsqueeze(0)).clone();
    for (int64_t t : gone) e[0][t].zero_();
    ForwardRequest req;
    req.inputs_embeds = e;
    return logprobs(*vit, req, s, {0});
  });
  EXPECT_LT((zero.to(at::kDouble) - want_zero).abs().max().item<double>(),
            1e-5 * (1 + want_zero.abs().max().item<double>()));
  test::expect_error(
      [&] { build("occlusion", "{removal: replace}")->explain(*vit, s, ctx); },
      {"occlusion: removal 'replace' replaces a token, and this sample is an image"});
}

// In a run with an occlusion explainer every other explainer's rows get their rank correlation
// with it (spearman_occlusion, kendall_occlusion), equal to the correlation of the stored maps.
TEST(Occlusion, ARunCorrelatesEveryExplainerWithIt) {
  test::TempDir out;
  const std::string yaml = out.path() + "/exp.yaml";
  {
    std::ofstream f(yaml);
    f << "name: loo\nmodels: [{name: gpt2, path: tests/fixtures/models/gpt2}]\n"
      << "dataset: {type: toy, path: datasets/toy/data/test.json, limit: 3}\n"
      << "explainers:\n  - name: saliency\n  - name: occlusion\n  - name: rollout\n"
      << "runtime: {threads: 1, progress: off}\n";
  }
  const RunResult r = test::run_at_root(yaml, {"output=" + out.path() + "/run"});
  ASSERT_EQ(r.failures, 0);
  const ResultsReader reader(r.results_h5);
  const ExplainerTable ref = reader.explainer("gpt2", "occlusion");
  if (ref.metrics.count("spearman_occlusion")) {  // the column exists; the reference has no value
    for (double v : ref.metrics.at("spearman_occlusion")) EXPECT_TRUE(std::isnan(v));
  }
  for (const char* x : {"saliency", "rollout"}) {
    const ExplainerTable t = reader.explainer("gpt2", x);
    ASSERT_TRUE(t.metrics.count("spearman_occlusion")) << x;
    ASSERT_EQ(t.rows(), 3u);
    for (size_t j = 0; j < t.rows(); ++j) {
      ASSERT_EQ(t.sample[j], ref.sample[j]);
      std::vector<double> a, b;  // the explained positions: numbers in both (NaN elsewhere)
      const std::vector<float> u = t.relevance.row(j), v = ref.relevance.row(j);
      ASSERT_EQ(u.size(), v.size());
      for (size_t i = 0; i < u.size(); ++i) {
        if (std::isnan(u[i])) continue;
        a.push_back(u[i]);
        b.push_back(v[i]);
      }
      EXPECT_NEAR(t.metrics.at("spearman_occlusion")[j], spearman(a, b), 1e-9) << x << " " << j;
      EXPECT_NEAR(t.metrics.at("kendall_occlusion")[j], kendall_tau_b(a, b), 1e-9) << x;
    }
  }
}

TEST(Occlusion, ConfigErrorsNameTheKey) {
  test::expect_error([] { build("occlusion", "{window: 0}"); }, {"window", "at least 1"});
  test::expect_error([] { build("occlusion", "{removal: blur}"); }, {"removal", "drop"});
  test::expect_error([] { build("occlusion", "{removal: replace, token: cls}"); },
                     {"token", "unk, pad, mask or a token id"});
  test::expect_error([] { build("occlusion", "{token: pad}"); },
                     {"token", "only removal: replace reads a token"});
  test::expect_error([] { build("occlusion", "{batch_size: 0}"); }, {"batch_size"});
  auto gpt2 = load_model(fixture("models/gpt2"));
  const Encoded s =
      test::make_sample(at::arange(3, 9, at::kLong), 5, at::tensor(std::vector<int64_t>{9}));
  ExplainContext ctx;
  test::expect_error(
      [&] { build("occlusion", "{removal: replace, token: '999999'}")->explain(*gpt2, s, ctx); },
      {"outside the model's vocabulary"});
}

}  // namespace
}  // namespace xai
