// The blockwise differentiable attention against the written-out softmax(q k^T * scale + mask) v
// under plain autograd (float64 reference), on several shapes, block sizes and masks; and, in the
// model, the gradient path that uses it against the written-out one (kept probabilities).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "framework/model/attention_cpu.h"
#include "framework/model/block_attention.h"
#include "framework/model/model.h"
#include "tests/unit/method_samples.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::relative_error;

// max |got - want| / max |want|, with a floor so an all-zero reference (one visible key: the
// softmax has no gradient) compares by absolute error.
double scaled_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor w = want.to(at::kDouble);
  return (got.to(at::kDouble) - w).abs().max().item<double>() /
         std::max(w.abs().max().item<double>(), 1e-3);
}

struct Shape {
  int64_t B, H, T, S, Dh, rows;
};

// Causal mask for queries at positions S - T .. S - 1, with key 1 of batch row 0 masked as
// padding and (when T > 1) query 0 of batch row 0 seeing no key at all (a padding query).
at::Tensor make_mask(const Shape& s) {
  at::Tensor q_pos = at::arange(s.S - s.T, s.S, at::kLong).view({s.T, 1});
  at::Tensor allowed = at::arange(0, s.S, at::kLong).view({1, s.S}).le(q_pos);  // (T, S)
  allowed = allowed.view({1, 1, s.T, s.S}).repeat({s.B, 1, 1, 1}).clone();
  if (s.S > 2) allowed[0][0].select(1, 1).fill_(false);
  if (s.T > 1) allowed[0][0][0].fill_(false);
  return at::zeros(allowed.sizes(), at::kFloat).masked_fill_(allowed.logical_not(), -1e30);
}

// Random q, k, v and output gradient for a shape, with make_mask's mask.
struct Inputs {
  at::Tensor q, k, v, mask, dout;
};
Inputs random_inputs(const Shape& s) {
  return {at::randn({s.B, s.H, s.T, s.Dh}, at::kFloat),
          at::randn({s.B, s.H, s.S, s.Dh}, at::kFloat),
          at::randn({s.B, s.H, s.S, s.Dh}, at::kFloat), make_mask(s),
          at::randn({s.B, s.H, s.T, s.Dh}, at::kFloat)};
}

TEST(BlockAttention, ValuesAndGradientsMatchTheWrittenOutSoftmax) {
  const std::vector<Shape> shapes = {
      {1, 1, 1, 1, 4, 0}, {2, 3, 5, 7, 8, 2}, {2, 2, 19, 19, 16, 4}, {1, 4, 33, 40, 8, 0}};
  at::manual_seed(3);
  for (const Shape& s : shapes) {
    const Inputs in = random_inputs(s);
    const at::Tensor &q = in.q, &k = in.k, &v = in.v, &mask = in.mask, &dout = in.dout;
    const double scale = 0.37;

    std::vector<at::Tensor> leaves = {q.clone().requires_grad_(true),
                                      k.clone().requires_grad_(true),
                                      v.clone().requires_grad_(true)};
    at::Tensor got = block_attention(leaves[0], leaves[1], leaves[2], mask, scale, s.rows);
    const auto got_grads = torch::autograd::grad({got}, leaves, {dout});

    std::vector<at::Tensor> ref_leaves = {q.to(at::kDouble).requires_grad_(true),
                                          k.to(at::kDouble).requires_grad_(true),
                                          v.to(at::kDouble).requires_grad_(true)};
    at::Tensor logits =
        at::matmul(ref_leaves[0], ref_leaves[1].transpose(2, 3)) * scale + mask.to(at::kDouble);
    at::Tensor want = at::matmul(at::softmax(logits, -1), ref_leaves[2]);
    const auto want_grads = torch::autograd::grad({want}, ref_leaves, {dout.to(at::kDouble)});

    EXPECT_LT(scaled_error(got, want), 1e-5) << "T " << s.T << " rows " << s.rows;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LT(scaled_error(got_grads[i], want_grads[i]), 1e-5)
          << "gradient " << i << ", T " << s.T << " rows " << s.rows;
    }
    if (s.T > 1) {  // the padding query's row is uniform over all keys, as softmax makes it
      EXPECT_LT(relative_error(got[0][0][0], v[0][0].mean(0)), 1e-5);
    }
  }
}

// The grad sink: the blocks it is handed, put together, are the written-out probabilities and
// their gradient dL/dA (float64 reference), with every row of the output covered exactly once.
TEST(BlockAttention, GradSinkHandsOverEachBlocksProbabilitiesAndTheirGradient) {
  const std::vector<Shape> shapes = {
      {2, 3, 5, 7, 8, 2}, {1, 2, 19, 19, 16, 4}, {2, 4, 33, 40, 8, 0}};
  at::manual_seed(5);
  for (const Shape& s : shapes) {
    const Inputs in = random_inputs(s);
    const at::Tensor &q = in.q, &k = in.k, &v = in.v, &mask = in.mask, &dout = in.dout;
    const double scale = 0.37;

    at::Tensor probs = at::zeros({s.B, s.H, s.T, s.S}, at::kFloat);
    at::Tensor grads = at::zeros({s.B, s.H, s.T, s.S}, at::kFloat);
    at::Tensor seen = at::zeros({s.T}, at::kInt);
    int calls = 0;
    ProbsGradSink sink = [&](int64_t row0, const at::Tensor& a, const at::Tensor& da) {
      ++calls;
      const int64_t r = a.size(2), c = a.size(3);
      ASSERT_EQ(da.sizes(), a.sizes());
      probs.slice(2, row0, row0 + r).slice(3, 0, c).copy_(a);
      grads.slice(2, row0, row0 + r).slice(3, 0, c).copy_(da);
      seen.slice(0, row0, row0 + r).add_(1);
    };
    at::Tensor qq = q.clone().requires_grad_(true);
    at::Tensor out = block_attention(qq, k, v, mask, scale, s.rows, sink);
    EXPECT_EQ(calls, 0) << "the forward does not call the sink";
    torch::autograd::grad({out}, {qq}, {dout});
    EXPECT_GT(calls, s.rows > 0 && s.rows < s.T ? 1 : 0);
    EXPECT_TRUE(seen.eq(1).all().item<bool>()) << "T " << s.T << " rows " << s.rows;

    at::Tensor ref_probs =
        at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(2, 3)) * scale +
                        mask.to(at::kDouble),
                    -1)
            .requires_grad_(true);
    at::Tensor ref_out = at::matmul(ref_probs, v.to(at::kDouble));
    const at::Tensor ref_grads =
        torch::autograd::grad({ref_out}, {ref_probs}, {dout.to(at::kDouble)})[0];
    EXPECT_LT(scaled_error(probs, ref_probs.detach()), 1e-5) << "T " << s.T;
    // dA on the keys a block skipped (probability exactly 0) is not handed over: compare A * dA,
    // which is what a caller can use, and dA where A > 0.
    EXPECT_LT(scaled_error(probs * grads, ref_probs.detach() * ref_grads), 1e-5) << "T " << s.T;
    const at::Tensor visible = ref_probs.detach().gt(0);
    EXPECT_LT(scaled_error(grads.masked_select(visible), ref_grads.masked_select(visible)), 1e-5);
  }
}

TEST(BlockAttention, CausalBlocksSkipTheKeysNoRowSees) {
  // Causal, T = S = 64, blocks of 16: each block computes only the keys up to its last row.
  at::Tensor q_pos = at::arange(0, 64, at::kLong).view({64, 1});
  at::Tensor allowed = at::arange(0, 64, at::kLong).view({1, 64}).le(q_pos).view({1, 1, 64, 64});
  at::Tensor mask = at::zeros({1, 1, 64, 64}).masked_fill_(allowed.logical_not(), -1e30);
  EXPECT_EQ(block_attention_columns(mask, 64, 64, 16), (std::vector<int64_t>{16, 32, 48, 64}));
  // With a cached prefix of 10 keys (S = T + 10) and a last block of 4 rows.
  at::Tensor q_pos2 = at::arange(10, 30, at::kLong).view({20, 1});
  at::Tensor allowed2 = at::arange(0, 30, at::kLong).view({1, 30}).le(q_pos2).view({1, 1, 20, 30});
  at::Tensor mask2 = at::zeros({1, 1, 20, 30}).masked_fill_(allowed2.logical_not(), -1e30);
  EXPECT_EQ(block_attention_columns(mask2, 20, 30, 8), (std::vector<int64_t>{18, 26, 30}));
  // A row that sees no key (a padding query) makes its block keep every key; a batch row that
  // sees more widens the block for all.
  const Shape padded{2, 1, 8, 8, 4, 4};
  at::Tensor m = make_mask(padded);  // row 0 of batch 0 is blind
  EXPECT_EQ(block_attention_columns(m, 8, 8, 4), (std::vector<int64_t>{8, 8}));
}

TEST(BlockAttention, ModelGradientsMatchTheWrittenOutPath) {
  // Kept probabilities force the written-out attention; without them a gradient pass takes the
  // blockwise one (set explicitly, so an XAI_ATTENTION_GRAD=written_out in the environment
  // cannot make both runs the same path). Same logits, same input gradients, on plain and
  // grouped-query heads.
  ::setenv("XAI_ATTENTION_GRAD", "block", 1);
  for (const char* name : {"gpt2", "llama_gqa"}) {
    auto model = load_model(test::fixture(std::string("models/") + name));
    at::Tensor e0 = model->embed(at::arange(3, 20, at::kLong).view({1, 17})).detach();
    std::vector<at::Tensor> logits, grads;
    for (bool keep : {false, true}) {
      at::Tensor e = e0.repeat({2, 1, 1}).requires_grad_(true);
      ForwardRequest req;
      req.inputs_embeds = e;
      req.attention_mask = at::ones({2, 17}, at::kLong);
      req.attention_mask[1].slice(0, 0, 3).fill_(0);  // a left-padded row
      AttentionControl control;
      control.keep_probs = keep;
      ForwardResult out = model->forward(req, control);
      EXPECT_EQ(out.attn_probs.empty(), !keep);
      logits.push_back(out.logits.detach());
      grads.push_back(torch::autograd::grad({out.logits.select(2, 7).sum()}, {e})[0]);
    }
    EXPECT_LT(relative_error(logits[0], logits[1]), 1e-5) << name;
    EXPECT_LT(relative_error(grads[0], grads[1]), 1e-4) << name;
  }
  ::unsetenv("XAI_ATTENTION_GRAD");
}

// A NaN score (from a NaN weight, say) must poison its row, as at::softmax does: the fast kernel
// used to clamp it into a probability of about 0, and a model with NaN weights then predicted
// finite, confident logits in inference (AtMan, predict) while its gradient path gave NaN.
TEST(FusedAttention, ANanScoreGivesNanRowsWithBothKernels) {
  for (const char* kernel : {"", "baseline"}) {
    ::setenv("XAI_CPU_KERNEL", kernel, 1);
    at::manual_seed(3);
    const int64_t B = 1, H = 2, T = 20, Dh = 8;
    at::Tensor q = at::randn({B, H, T, Dh}), k = at::randn({B, H, T, Dh});
    at::Tensor v = at::randn({B, H, T, Dh});
    k[0][1][5][0] = NAN;  // key 5 of head 1: every query of head 1 from position 5 on sees it
    FusedAttentionArgs a;
    a.scale = 0.35;
    const at::Tensor out = fused_attention_cpu(q, k, v, 1, a);  // (B, H, T, Dh)
    EXPECT_TRUE(at::isfinite(out[0][0]).all().item<bool>()) << kernel;
    EXPECT_TRUE(at::isfinite(out[0][1].slice(0, 0, 5)).all().item<bool>()) << kernel;
    EXPECT_TRUE(at::isnan(out[0][1].slice(0, 5)).all().item<bool>()) << kernel;
    // Rows shorter than one vector (the kernel's scalar tail) as well.
    at::Tensor q3 = at::randn({1, 1, 3, Dh}), k3 = at::randn({1, 1, 3, Dh});
    q3[0][0][1][0] = NAN;
    const at::Tensor out3 = fused_attention_cpu(q3, k3, at::randn({1, 1, 3, Dh}), 1, a);
    EXPECT_TRUE(at::isfinite(out3[0][0][0]).all().item<bool>()) << kernel;
    EXPECT_TRUE(at::isnan(out3[0][0][1]).all().item<bool>()) << kernel << out3;
  }
  ::unsetenv("XAI_CPU_KERNEL");
}

// The unfused path (batched matmuls over whole (rows, S) score blocks) is the fused kernel's
// alternative on CPUs where it is faster: the same numbers, in every mode the kernel has.
TEST(FusedAttention, TheUnfusedPathGivesTheSameNumbersInEveryMode) {
  at::manual_seed(11);
  const int64_t B = 2, Dh = 8;
  int checked = 0;
  for (int64_t G : {1, 3}) {
    for (int64_t past : {0, 5}) {
      const int64_t T = 9, S = past + T, Hkv = 2;
      const at::Tensor q = at::randn({B, Hkv, G * T, Dh}), k = at::randn({B, Hkv, S, Dh});
      const at::Tensor v = at::randn({B, Hkv, S, Dh});
      for (int variant = 0; variant < 6; ++variant) {
        FusedAttentionArgs a;
        a.past_len = past;
        a.scale = 0.35;
        if (variant >= 1) {  // AtMan's factors: one row per batch row, or one for all
          a.key_factors = at::ones({variant % 2 ? B : 1, S});
          a.key_factors.select(1, 2).fill_(0.1f);
          a.key_factors.select(1, S - 3).fill_(0.0f);
        }
        if (variant == 2) a.minimum = ShiftMinimum::kValidKeys;
        if (variant == 3) a.mode = SuppressionMode::kLogAdditive;
        if (variant == 4) a.window = 4;
        if (variant >= 4) {  // padding: batch row 1 has no key before position 6 at all
          a.key_valid = at::ones({B, S}, at::kBool);
          a.key_valid[1].slice(0, 0, 6).fill_(false);
        }
        const at::Tensor fused = fused_attention_cpu(q, k, v, G, a);
        const at::Tensor unfused = unfused_attention_cpu(q, k, v, G, a);
        EXPECT_TRUE(at::allclose(fused, unfused, 1e-4, 1e-5))
            << "G " << G << " past " << past << " variant " << variant << ": max difference "
            << (fused - unfused).abs().max().item<float>();
        if (variant == 5 && past == 0) {  // rows that see no key are 0 on both paths
          EXPECT_EQ(unfused[1][0][0].abs().sum().item<float>(), 0.0f);
          EXPECT_EQ(fused[1][0][0].abs().sum().item<float>(), 0.0f);
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 24);
}

TEST(FusedAttention, TheChosenKernelIsReportedAndCanBeForced) {
  // A machine choices file of its own, so this process times the classes below itself.
  test::TempDir dir;
  ::setenv("XAI_ATTENTION_CHOICES", (dir.path() + "/kernels.tsv").c_str(), 1);
  forget_attention_choices();
  at::manual_seed(12);
  // Large enough that the proxy is timed against the unfused path (over 0.25 ms fused).
  const int64_t T = 512, Dh = 64;
  const at::Tensor q = at::randn({1, 2, T, Dh}), k = at::randn({1, 2, T, Dh});
  const at::Tensor v = at::randn({1, 2, T, Dh});
  FusedAttentionArgs a;
  a.scale = 0.35;
  const at::Tensor want = fused_attention_cpu(q, k, v, 1, a);
  ::setenv("XAI_ATTENTION_KERNEL", "unfused", 1);
  EXPECT_TRUE(at::allclose(inference_attention_cpu(q, k, v, 1, a), want, 1e-4, 1e-5));
  ::unsetenv("XAI_ATTENTION_KERNEL");
  // Chosen by timing both the first time this shape class is seen, then reported.
  EXPECT_TRUE(at::allclose(inference_attention_cpu(q, k, v, 1, a), want, 1e-4, 1e-5));
  bool found = false;
  for (const AttentionChoice& c : attention_choices()) {
    if (c.shape_class.find("B1 H2 G1 T512 S512 Dh64") == std::string::npos) continue;
    found = true;
    EXPECT_TRUE(c.kernel == "fused" || c.kernel == "unfused") << c.kernel;
    EXPECT_GT(c.fused_ms, 0.25);
    EXPECT_GT(c.unfused_ms, 0.0);
    EXPECT_EQ(c.kernel == "unfused", c.unfused_ms * 1.15 < c.fused_ms);
  }
  EXPECT_TRUE(found);
  // A shape too small to matter is not timed against the unfused path.
  const at::Tensor small = at::randn({1, 1, 4, 8});
  inference_attention_cpu(small, small, small, 1, a);
  for (const AttentionChoice& c : attention_choices()) {
    if (c.shape_class.find("B1 H1 G1 T4 S4 Dh8") == std::string::npos) continue;
    EXPECT_EQ(c.kernel, "fused");
    EXPECT_EQ(c.unfused_ms, 0.0);
  }
  ::unsetenv("XAI_ATTENTION_CHOICES");
  forget_attention_choices();
}

// The machine's choices file: the first process to meet a shape class times it and writes its
// choice; every later one (a resume, another rank, a rerun) takes that choice instead of timing,
// so load cannot change which kernel, and which bits, a run computes.
TEST(FusedAttention, EveryProcessTakesTheMachinesRecordedChoice) {
  test::TempDir dir;
  const std::string file = dir.path() + "/cache/xai/kernels.tsv";  // parents created
  ::setenv("XAI_ATTENTION_CHOICES", file.c_str(), 1);
  forget_attention_choices();
  at::manual_seed(13);
  const int64_t T = 384, Dh = 64;
  const at::Tensor q = at::randn({1, 2, T, Dh}), k = at::randn({1, 2, T, Dh});
  const at::Tensor v = at::randn({1, 2, T, Dh});
  FusedAttentionArgs a;
  a.scale = 0.4;
  inference_attention_cpu(q, k, v, 1, a);
  ASSERT_EQ(attention_choices().size(), 1u);
  const AttentionChoice first = attention_choices()[0];
  EXPECT_FALSE(first.from_file);
  EXPECT_GT(first.fused_ms, 0.0);  // timed here
  std::ifstream in(file);
  std::string line, cls, kernel;
  ASSERT_TRUE(std::getline(in, line)) << file << " holds no choice";
  cls = line.substr(0, line.find('\t'));
  kernel = line.substr(line.find('\t') + 1);
  EXPECT_EQ(cls, first.shape_class);
  EXPECT_EQ(kernel, first.kernel);
  EXPECT_FALSE(std::getline(in, line)) << "one line per class";
  // Another process (forgotten choices) whose file says the other kernel computes with that one,
  // bit for bit, and does not time.
  const std::string other = kernel == "fused" ? "unfused" : "fused";
  std::ofstream(file, std::ios::app) << cls << "\t" << other << "\n";
  forget_attention_choices();
  const at::Tensor got = inference_attention_cpu(q, k, v, 1, a);
  ASSERT_EQ(attention_choices().size(), 1u);
  EXPECT_TRUE(attention_choices()[0].from_file);
  EXPECT_EQ(attention_choices()[0].kernel, other);
  EXPECT_EQ(attention_choices()[0].fused_ms, 0.0);
  const at::Tensor want = other == "fused" ? fused_attention_cpu(q, k, v, 1, a)
                                           : unfused_attention_cpu(q, k, v, 1, a);
  EXPECT_TRUE(at::equal(got, want));
  // `off`: this process alone, timed again, nothing written.
  ::setenv("XAI_ATTENTION_CHOICES", "off", 1);
  forget_attention_choices();
  inference_attention_cpu(q, k, v, 1, a);
  EXPECT_FALSE(attention_choices()[0].from_file);
  ::unsetenv("XAI_ATTENTION_CHOICES");
  forget_attention_choices();
}

}  // namespace
}  // namespace xai

namespace xai {
namespace {

// AtMan's suppression written out in float64 per query head, independently of
// controlled_scores: the reference for the blocked inference attention.
at::Tensor written_out_controlled(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  int64_t G, const at::Tensor& mask, const at::Tensor& f,
                                  SuppressionMode mode, ShiftMinimum minimum, double scale) {
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  const at::Tensor md = mask.to(at::kDouble), allowed = mask.gt(-1e29);
  std::vector<at::Tensor> heads;
  for (int64_t h = 0; h < q.size(1); ++h) {
    const at::Tensor kh = kd.select(1, h / G), vh = vd.select(1, h / G);  // (B, S, Dh)
    at::Tensor raw = at::matmul(qd.select(1, h), kh.transpose(1, 2));     // (B, T, S)
    at::Tensor logits;
    if (!f.defined()) {
      logits = raw * scale;
    } else {
      const at::Tensor fd = f.to(at::kDouble).view({-1, 1, raw.size(2)});
      if (mode == SuppressionMode::kShiftedScores) {
        const at::Tensor pool = minimum == ShiftMinimum::kAllKeys
                                    ? raw
                                    : raw.masked_fill(allowed.select(1, 0).logical_not(), 1e300);
        at::Tensor row_min = std::get<0>(pool.min(-1, true));
        row_min = at::where(row_min.gt(1e299), at::zeros_like(row_min), row_min);  // no key
        logits = (raw - row_min) * fd * scale;
      } else {
        logits = raw * scale + at::where(fd.gt(0), fd.log(), at::full({}, -1e4, fd.options()));
      }
    }
    logits = logits + md.select(1, 0);
    heads.push_back(at::matmul(at::softmax(logits, -1), vh));  // (B, T, Dh)
  }
  return at::stack(heads, 1);  // (B, H, T, Dh)
}

TEST(BlockedInferenceAttention, MatchesTheWrittenOutAttentionUnderEveryControl) {
  at::manual_seed(11);
  struct Case {
    int64_t B, Hkv, G, T, S, Dh, rows;
  };
  for (const Case& c : {Case{2, 2, 1, 9, 9, 8, 4}, Case{3, 1, 3, 6, 10, 4, 0},
                        Case{1, 2, 2, 33, 33, 16, 5}, Case{2, 3, 1, 1, 7, 8, 1}}) {
    const Shape shape{c.B, c.Hkv * c.G, c.T, c.S, c.Dh, c.rows};
    const at::Tensor mask = make_mask(shape);
    const at::Tensor q = at::randn({c.B, c.Hkv * c.G, c.T, c.Dh});
    const at::Tensor k = at::randn({c.B, c.Hkv, c.S, c.Dh}), v = at::randn({c.B, c.Hkv, c.S, c.Dh});
    // AtMan's factors: one batch row per suppressed key, 1 elsewhere, one key fully removed.
    at::Tensor f = at::ones({c.B, c.S});
    for (int64_t b = 0; b < c.B; ++b) f[b][(b * 3) % c.S] = 0.1;
    f[0][c.S - 1] = 0.0;
    // attend()'s layout: each key/value head's G query heads folded into the rows.
    const at::Tensor qg = q.contiguous().view({c.B, c.Hkv, c.G * c.T, c.Dh});
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.Dh));
    for (bool factors : {false, true}) {
      for (auto mode : {SuppressionMode::kShiftedScores, SuppressionMode::kLogAdditive}) {
        for (auto minimum : {ShiftMinimum::kAllKeys, ShiftMinimum::kValidKeys}) {
          const at::Tensor ff = factors ? f : at::Tensor();
          const at::Tensor want =
              written_out_controlled(q, k, v, c.G, mask, ff, mode, minimum, scale);
          const at::Tensor got = blocked_inference_attention(qg, k, v, c.G, mask, mask.gt(-1e29),
                                                             ff, mode, minimum, scale, c.rows);
          ASSERT_EQ(got.sizes(), want.sizes());
          EXPECT_LT(scaled_error(got, want), 2e-6)
              << "B " << c.B << " G " << c.G << " T " << c.T << " S " << c.S << " rows "
              << c.rows << " factors " << factors << " mode " << static_cast<int>(mode)
              << " minimum " << static_cast<int>(minimum);
          // bfloat16 inputs: scores and softmax in float32, the output in bfloat16.
          const at::Tensor half =
              blocked_inference_attention(qg.to(at::kBFloat16), k.to(at::kBFloat16),
                                          v.to(at::kBFloat16), c.G, mask, mask.gt(-1e29), ff,
                                          mode, minimum, scale, c.rows);
          EXPECT_EQ(half.scalar_type(), at::kBFloat16);
          EXPECT_LT(scaled_error(half, want), 5e-2);
        }
      }
    }
  }
}

// In the model: an inference forward that cannot use the fused CPU kernel (bfloat16 weights)
// runs the blocked path; its logits under AtMan's factors equal the written-out path's (the
// same forward with the probabilities kept, which writes them out).
TEST(BlockedInferenceAttention, BfloatForwardEqualsTheWrittenOutPath) {
  for (const char* name : {"llama_gqa", "gpt_neox"}) {
    LoadOptions o;
    o.dtype = at::kBFloat16;
    auto model = load_model(test::fixture(std::string("models/") + name), o);
    at::manual_seed(5);
    const int64_t T = 12;
    ForwardRequest req;
    req.input_ids = at::randint(3, model->spec().vocab_size, {3, T}, at::kLong);
    AttentionControl ctl;
    ctl.key_factors = at::ones({3, T});
    ctl.key_factors[1][4] = 0.1;
    ctl.key_factors[2][7] = 0.0;
    at::NoGradGuard ng;
    const at::Tensor blocked = model->forward(req, ctl).logits;
    ctl.keep_probs = true;  // the written-out path
    const ForwardResult written = model->forward(req, ctl);
    EXPECT_FALSE(written.attn_probs.empty());
    EXPECT_LT(scaled_error(blocked, written.logits), 5e-3) << name;
  }
}

}  // namespace
}  // namespace xai
