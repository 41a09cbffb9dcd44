// AtMan against the independent reference (tests/reference/atman_reference.py), and the fast
// path's promise: prefix reuse, head at targets and batching change nothing.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "framework/config/config.h"
#include "framework/dist/communicator.h"
#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/atman.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;
using test::make_sample;
using test::relative_error;

AtManOptions options_from_json(const nlohmann::json& c) {
  AtManOptions o;
  o.explain_targets = true;  // the reference perturbs every position, earlier targets too
  o.factor = c.at("factor").get<double>();
  o.kappa =
      c.at("kappa").is_null() ? std::nullopt : std::optional<double>(c["kappa"].get<double>());
  if (c.contains("mode")) {
    o.mode = c["mode"] == "log_additive" ? SuppressionMode::kLogAdditive
                                         : SuppressionMode::kShiftedScores;
  }
  if (c.contains("minimum_over") && c["minimum_over"] == "valid_keys") {
    o.minimum = ShiftMinimum::kValidKeys;
  }
  if (c.contains("neighbour_factor")) o.cos_scaled = c["neighbour_factor"] == "cos_scaled";
  if (c.contains("top_k")) o.top_k = c["top_k"].get<int64_t>();
  if (c.contains("layers")) o.layers = c["layers"].get<std::vector<int>>();
  return o;
}

class AtManReference : public ::testing::TestWithParam<std::string> {};

TEST_P(AtManReference, PerTargetMatchesTheReferenceImplementation) {
  auto model = load_model(fixture("models/" + GetParam()));
  auto ref = SafetensorsFile::open(fixture("atman/" + GetParam() + ".safetensors"));
  const auto configs = nlohmann::json::parse(test::read_file(fixture("atman/configs.json")));
  ExplainContext ctx;
  int checked = 0;
  for (int p = 0; p < 2; ++p) {
    const std::string k = "p" + std::to_string(p) + ".";
    Encoded s = make_sample(ref->get(k + "ids"), ref->get(k + "prompt_len").item<int64_t>(),
                            ref->get(k + "targets"));
    for (auto it = configs.begin(); it != configs.end(); ++it) {
      AtManOptions o = options_from_json(it.value());
      o.batch_size = 4;
      AtMan atman(o);
      Explanation e = atman.explain(*model, s, ctx);
      at::Tensor want = ref->get(k + "per_target." + it.key());
      ASSERT_EQ(e.per_target.sizes(), want.sizes());
      EXPECT_LT(relative_error(e.per_target, want), 1e-4) << it.key() << " prompt " << p;
      EXPECT_TRUE(at::allclose(e.relevance, e.per_target.pow(2).sum(0)));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(configs.size()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AtManReference,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"));

class AtManFastPath : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = load_model(fixture("models/" + GetParam()));
    at::Tensor ids = at::randint(3, model_->spec().vocab_size, {24}, at::kLong);
    ids[9] = ids[2];  // a repeated token: correlated suppression has a neighbour
    sample_ = make_sample(ids.slice(0, 0, 23), 20, ids.slice(0, 20));
  }
  at::Tensor run(AtManOptions o) {
    ExplainContext ctx;
    return AtMan(o).explain(*model_, sample_, ctx).per_target;
  }
  std::unique_ptr<Model> model_;
  Encoded sample_;
};

TEST_P(AtManFastPath, PrefixReuseAndHeadAtTargetsMatchThePlainPath) {
  for (std::optional<double> kappa : {std::optional<double>(), std::optional<double>(0.2)}) {
    AtManOptions plain;
    plain.kappa = kappa;
    plain.prefix_reuse = false;
    plain.head_at_targets = false;
    AtManOptions fast = plain;
    fast.prefix_reuse = true;
    fast.head_at_targets = true;
    at::Tensor a = run(plain), b = run(fast);
    EXPECT_LT(relative_error(b, a), 1e-5) << "kappa " << (kappa ? *kappa : -1);
    AtManOptions head_only = plain;
    head_only.head_at_targets = true;
    EXPECT_LT(relative_error(run(head_only), a), 1e-5);
  }
}

// runtime.weights: streamed: every batch through layer l before any through layer l + 1, in groups
// of batches as the memory allows (here 1 byte: one batch a group; 1 GB: all at once), gives the
// batch-major numbers bit for bit, with and without prefix reuse and correlated suppression.
TEST_P(AtManFastPath, LayerMajorOrderGivesTheBatchMajorScoresBitForBit) {
  for (std::optional<double> kappa : {std::optional<double>(), std::optional<double>(0.2)}) {
    for (bool reuse : {true, false}) {
      AtManOptions o;
      o.kappa = kappa;
      o.prefix_reuse = reuse;
      o.batch_size = 3;
      const at::Tensor want = run(o);
      for (int64_t bytes : {int64_t{1}, int64_t{1} << 30}) {
        ExplainContext ctx;
        ctx.layer_major = true;
        ctx.layer_major_bytes = bytes;
        int64_t last = 0;
        ctx.progress = [&](int64_t done, int64_t total) {
          EXPECT_GT(done, last);
          EXPECT_LE(done, total);
          last = done;
        };
        const Explanation e = AtMan(o).explain(*model_, sample_, ctx);
        EXPECT_TRUE(at::equal(e.per_target, want))
            << GetParam() << " kappa " << (kappa ? *kappa : -1) << " reuse " << reuse
            << " bytes " << bytes << ": " << relative_error(e.per_target, want);
        EXPECT_GT(last, 0);
      }
    }
  }
}

TEST_P(AtManFastPath, BatchSizeDoesNotChangeTheScores) {
  AtManOptions one;
  one.batch_size = 1;
  AtManOptions many = one;
  many.batch_size = 16;
  EXPECT_LT(relative_error(run(many), run(one)), 1e-5);
}

TEST_P(AtManFastPath, LaterTokensCannotExplainEarlierTargets) {
  AtManOptions o;
  o.kappa = std::nullopt;
  at::Tensor pt = run(o);  // (3, 23): targets predicted at 19, 20, 21
  for (int64_t t = 0; t < 3; ++t) {
    at::Tensor later = pt[t].slice(0, 20 + t);
    EXPECT_EQ(later.abs().max().item<double>(), 0.0) << "target " << t;
  }
  // Positions outside the explain mask and not targets are not scored.
  Encoded s = sample_;
  s.explain_mask[4] = 0;
  ExplainContext ctx;
  at::Tensor masked = AtMan(o).explain(*model_, s, ctx).per_target;
  EXPECT_EQ(masked.select(1, 4).abs().max().item<double>(), 0.0);
  EXPECT_GT(masked.select(1, 5).abs().max().item<double>(), 0.0);
}

// The scoring options every baseline has, applied to AtMan's scores the same way: a leading BOS
// and the predicting position zeroed, each target's row normalised; off, nothing changes.
TEST_P(AtManFastPath, ScoringOptionsZeroBosAndThePredictingPositionThenNormalise) {
  AtManOptions o;
  o.kappa = std::nullopt;
  Encoded s = sample_;
  s.offsets[0] = ByteSpan{0, 0};  // position 0 is a BOS
  ExplainContext ctx;
  const at::Tensor raw = AtMan(o).explain(*model_, s, ctx).per_target;  // (n, T)
  const int64_t n = raw.size(0), P = s.prompt_len;
  ASSERT_GT(raw.select(1, 0).abs().max().item<double>(), 0.0);
  o.exclude_bos = true;
  o.exclude_predicting = true;
  o.normalize = Normalization::kL1;
  const Explanation e = AtMan(o).explain(*model_, s, ctx);
  at::Tensor want = raw.clone();
  want.select(1, 0).zero_();
  for (int64_t t = 0; t < n; ++t) want[t][P - 1 + t] = 0.0f;  // the predicting positions
  want = want / want.abs().sum(1, true);
  EXPECT_LT(relative_error(e.per_target, want), 1e-6);
  EXPECT_TRUE(at::allclose(e.per_target.abs().sum(1), at::ones({n})));
  EXPECT_TRUE(at::equal(e.relevance, e.per_target.pow(2).sum(0)));  // then the aggregation
  o.normalize = Normalization::kMaxAbs;
  o.exclude_predicting = false;
  const at::Tensor m = AtMan(o).explain(*model_, s, ctx).per_target;
  EXPECT_TRUE(at::allclose(std::get<0>(m.abs().max(1)), at::ones({n})));
  EXPECT_EQ(m.select(1, 0).abs().max().item<double>(), 0.0);
  const auto j = nlohmann::json::parse(AtMan(o).params_json());
  EXPECT_EQ(j.at("exclude_bos"), true);
  EXPECT_EQ(j.at("normalize"), "max_abs");
  // The same keys from YAML; a bad value names the key and the choices.
  Config c =
      Config::parse("{exclude_bos: true, exclude_predicting: true, normalize: l1}", "x.yaml");
  const auto y = nlohmann::json::parse(make_explainer("atman", c.root())->params_json());
  EXPECT_EQ(y.at("exclude_bos"), true);
  EXPECT_EQ(y.at("exclude_predicting"), true);
  EXPECT_EQ(y.at("normalize"), "l1");
  test::expect_error(
      [] {
        Config bad = Config::parse("{normalize: l2}", "x.yaml");
        make_explainer("atman", bad.root());
      },
      {"normalize", "max_abs"});
}

// parallel.perturbation: the shares of a group (batch b on share b % shares) sum to the
// single-rank result bit for bit, costs included; a group of one is the single run.
TEST_P(AtManFastPath, PerturbationSharesSumToTheSingleRunExactly) {
  for (std::optional<double> kappa : {std::optional<double>(), std::optional<double>(0.2)}) {
    AtManOptions o;
    o.kappa = kappa;
    o.batch_size = 3;  // 22 perturbations: 8 batches, the last one short
    AtMan atman(o);
    ExplainContext ctx;
    const Explanation whole = atman.explain(*model_, sample_, ctx);
    for (int shares : {2, 3}) {
      at::Tensor sum = at::zeros_like(whole.per_target);
      int64_t forward = 0, sequences = 0;
      for (int share = 0; share < shares; ++share) {
        ExplainContext part;
        part.perturbation_rank = share;
        part.perturbation_ranks = shares;
        const Explanation e = atman.explain(*model_, sample_, part);
        // Shares are disjoint: where this share scored, the others have exact zeros.
        EXPECT_EQ(at::logical_and(e.per_target != 0, sum != 0).sum().item<int64_t>(), 0);
        sum += e.per_target;
        forward += e.cost.forward_passes;
        sequences += e.cost.sequences;
      }
      EXPECT_TRUE(at::equal(sum, whole.per_target)) << shares << " shares";
      EXPECT_TRUE(at::equal(aggregate_targets(sum, o.aggregation), whole.relevance));
      EXPECT_EQ(forward, whole.cost.forward_passes);
      EXPECT_EQ(sequences, whole.cost.sequences);
    }
    LocalCommunicator one;
    ExplainContext grouped;
    grouped.perturbation_group = &one;
    const Explanation g = atman.explain(*model_, sample_, grouped);
    EXPECT_TRUE(at::equal(g.per_target, whole.per_target));
    EXPECT_TRUE(at::equal(g.relevance, whole.relevance));
  }
  ExplainContext bad;
  bad.perturbation_rank = 2;
  bad.perturbation_ranks = 2;
  EXPECT_THROW(AtMan(AtManOptions()).explain(*model_, sample_, bad), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AtManFastPath,
                         ::testing::Values("gpt2", "llama_gqa", "gpt_neox", "gpt_neox_seq",
                                           "gptj"));

TEST(AtManPlan, NeighboursFollowKappaTopKAndTheCosineFactor) {
  // Embeddings with known cosines to row 0: 1 (same), 0.8, 0.6, -0.5.
  at::Tensor e = at::zeros({5, 2});
  e[0] = at::tensor({1.0f, 0.0f});
  e[1] = at::tensor({1.0f, 0.0f});
  e[2] = at::tensor({0.8f, 0.6f});
  e[3] = at::tensor({0.6f, 0.8f});
  e[4] = at::tensor({-0.5f, 0.8660254f});
  Encoded s = make_sample(at::arange(5, at::kLong), 4, at::tensor(std::vector<int64_t>{9, 9}));
  AtManOptions o;                             // factor 0.1, kappa 0.7, cos-scaled
  EXPECT_EQ(AtMan(o).plan(e, s).size(), 4u);  // the prompt tokens (targets are not explained)
  o.explain_targets = true;
  auto plan = AtMan(o).plan(e, s);
  ASSERT_EQ(plan.size(), 5u);  // 4 prompt tokens + 1 earlier target
  EXPECT_EQ(plan[0].keys, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NEAR(plan[0].factors[0], 0.1, 1e-6);
  EXPECT_NEAR(plan[0].factors[1], 0.1, 1e-6);            // cos 1 -> 1 - 0.9
  EXPECT_NEAR(plan[0].factors[2], 1 - 0.9 * 0.8, 1e-6);  // 0.28
  o.top_k = 1;
  EXPECT_EQ(AtMan(o).plan(e, s)[0].keys, (std::vector<int64_t>{0, 1}));
  o.top_k = 0;
  o.cos_scaled = false;
  EXPECT_NEAR(AtMan(o).plan(e, s)[0].factors[2], 0.1, 1e-6);
  o.kappa = std::nullopt;
  EXPECT_EQ(AtMan(o).plan(e, s)[0].keys, (std::vector<int64_t>{0}));
  o.explain_targets = false;
  EXPECT_EQ(AtMan(o).plan(e, s).size(), 4u);
  EXPECT_EQ(plan[3].first_key(), 2);  // position 3's neighbour 2 (cos 0.96) comes first
}

}  // namespace
}  // namespace xai
