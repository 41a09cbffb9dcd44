// Tensor parallelism (parallel.tensor): one model split over the k ranks of this launch
// (mpiexec -n k) computes what the whole model computes in one process, for every family: logits
// and kept attention over a padded batch, AtMan's controlled forward in both modes, a cached
// prefix, input gradients, and every explainer's per_target (within 1e-5 relative); and the
// encoder classifiers (BERT, RoBERTa, ViT). Each rank also builds the whole model from the same
// seeded weights as the reference.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "framework/config/config.h"
#include "framework/dist/communicator.h"
#include "framework/model/arch_registry.h"
#include "framework/model/synthetic.h"
#include "framework/model/tensor_parallel.h"
#include "methods/explainer.h"
#include "tests/unit/method_samples.h"

namespace xai {
namespace {

Communicator* g_comm = nullptr;

struct Shape {
  const char* name;
  ModelShape shape;
};
void PrintTo(const Shape& s, std::ostream* os) { *os << s.name; }

ModelShape shape_of(const char* family, int64_t heads, int64_t kv_heads) {
  ModelShape s;
  s.family = family;
  s.layers = 2;
  s.hidden = 48;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.vocab = 301;  // not a multiple of 2 or 3: the last rank's vocabulary rows are fewer
  s.max_positions = 64;
  return s;
}

// Six heads: split by 1, 2 and 3. Llama with one key/value head (replicated on every rank) and
// with six of twelve (split); llama's MLP width (256) does not divide by 3.
std::vector<Shape> shapes() {
  return {{"gpt2", shape_of("gpt2", 6, 0)},
          {"gpt_neox", shape_of("gpt_neox", 6, 0)},
          {"gptj", shape_of("gptj", 6, 0)},
          {"llama_kv1", shape_of("llama", 6, 1)},
          {"llama_kv6", shape_of("llama", 12, 6)}};
}

double rel(const at::Tensor& got, const at::Tensor& want) {
  return test::relative_error(got.detach().to(at::kFloat), want.detach().to(at::kFloat));
}
// The largest difference over the largest value, at least 1 (extras may be all zeros or flags).
double rel_or_abs(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  return (g - w).abs().max().item<double>() / std::max(1.0, w.abs().max().item<double>());
}

// The explainer of `method` with short integrals (the comparison is of the arithmetic).
std::unique_ptr<Explainer> short_explainer(const std::string& method) {
  const std::string yaml = method == "integrated_gradients" ? "{steps: 6}"
                           : method == "attattr"            ? "{steps: 3}"
                                                            : "{}";
  Config cfg = Config::parse(yaml, "test");
  return make_explainer(method, cfg.root());
}

// per_target's largest difference over its scale. AtMan's scores are differences of target
// log-probabilities (about log V) that a random model moves by 1e-3 at most: their float32
// rounding is judged against log V.
double per_target_error(const std::string& method, const Explanation& got, const Explanation& want,
                        int64_t vocab) {
  const double scale = method == "atman" ? std::log(static_cast<double>(vocab))
                                         : want.per_target.abs().max().item<double>();
  return (got.per_target - want.per_target).abs().max().item<double>() / scale;
}

class TensorParallel : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    spec_ = shape_spec(GetParam().shape, GetParam().name);
    whole_ = make_synthetic_model(spec_, 7, LoadOptions{}, at::kFloat);
    group_ = std::make_unique<TensorGroup>(*g_comm);
    LoadOptions o;
    o.tensor_group = group_.get();
    split_ = make_synthetic_model(spec_, 7, o, at::kFloat);
    ASSERT_EQ(split_->tensor_parallel(), g_comm->size());
  }
  at::Tensor ids(int64_t B, int64_t T, uint64_t seed) const {
    at::manual_seed(seed);
    return at::randint(1, spec_.vocab_size, {B, T}, at::kLong);
  }

  ModelSpec spec_;
  std::unique_ptr<Model> whole_, split_;
  std::unique_ptr<TensorGroup> group_;
};

TEST_P(TensorParallel, LogitsAndAttentionOfAPaddedBatch) {
  ForwardRequest r;
  r.input_ids = ids(2, 9, 1);
  r.attention_mask = at::ones({2, 9}, at::kLong);
  r.attention_mask[1].slice(0, 0, 3).fill_(0);  // row 1 left-padded
  AttentionControl keep;
  keep.keep_probs = true;
  const ForwardResult want = whole_->forward(r, keep), got = split_->forward(r, keep);
  ASSERT_EQ(got.logits.sizes(), want.logits.sizes());
  EXPECT_LT(rel(got.logits, want.logits), 1e-5);
  for (size_t l = 0; l < want.attn_probs.size(); ++l) {
    ASSERT_EQ(got.attn_probs[l].sizes(), want.attn_probs[l].sizes()) << l;
    EXPECT_LT(rel(got.attn_probs[l], want.attn_probs[l]), 1e-5) << l;
  }
}

TEST_P(TensorParallel, AtMansControlledForwardAndACachedPrefix) {
  const at::Tensor x = ids(3, 10, 2);
  ForwardRequest prefix;
  prefix.input_ids = x.slice(0, 0, 1).slice(1, 0, 6);
  prefix.return_cache = true;
  const ForwardResult pw = whole_->forward(prefix), pg = split_->forward(prefix);
  EXPECT_LT(rel(pg.logits, pw.logits), 1e-5);
  for (auto mode : {SuppressionMode::kShiftedScores, SuppressionMode::kLogAdditive}) {
    AttentionControl c;
    c.mode = mode;
    at::manual_seed(3);
    c.key_factors = at::rand({3, 10});
    ForwardRequest r;
    r.input_ids = x.slice(1, 6);
    r.past = &pw.cache;
    r.logit_positions = at::tensor({3}, at::kLong);
    const at::Tensor want = whole_->forward(r, c).logits;
    r.past = &pg.cache;
    const at::Tensor got = split_->forward(r, c).logits;
    EXPECT_LT(rel(got, want), 1e-5) << static_cast<int>(mode);
  }
}

TEST_P(TensorParallel, InputGradientsAreWhole) {
  const at::Tensor x = ids(2, 8, 4);
  auto grad_of = [&](Model& m) {
    at::AutoGradMode on(true);
    at::Tensor e = m.embed(x).detach().requires_grad_(true);
    ForwardRequest r;
    r.inputs_embeds = e;
    r.logit_positions = at::tensor({5, 7}, at::kLong);
    const at::Tensor logits = m.forward(r).logits;  // (2, 2, V)
    const at::Tensor loss = logits.log_softmax(-1).select(-1, 11).sum() + logits.pow(2).mean();
    return torch::autograd::grad({loss}, {e})[0];
  };
  const at::Tensor want = grad_of(*whole_), got = grad_of(*split_);
  EXPECT_LT(rel(got, want), 1e-5);
}

// ForwardRequest::vocab_parallel: each rank keeps its vocabulary rows of the logits, and the
// log-sum-exp, target logits, argmax and a log-probability's input gradient reduced over the group
// equal the whole model's.
TEST_P(TensorParallel, VocabularyParallelLogitsAreNeverGathered) {
  const at::Tensor x = ids(2, 7, 8);
  const at::Tensor targets = at::tensor({5, 300, 150, 0}, at::kLong);  // in every rank's rows
  auto run = [&](Model& m, bool part) {
    at::AutoGradMode on(true);
    at::Tensor e = m.embed(x).detach().requires_grad_(true);
    ForwardRequest r;
    r.inputs_embeds = e;
    r.logit_positions = at::tensor({4, 6}, at::kLong);
    r.vocab_parallel = part;
    const at::Tensor logits = m.forward(r).logits.reshape({4, -1});  // (4, V or V / k)
    const VocabSlice v = m.vocab_slice();
    if (part) {
      EXPECT_EQ(logits.size(1), v.size);
    }
    const at::Tensor lse = vocab_logsumexp(logits, v);
    const at::Tensor z = vocab_target(logits, targets, v);
    const at::Tensor best = vocab_argmax(logits, v);
    const at::Tensor g = torch::autograd::grad({(z - lse).sum()}, {e})[0];
    return std::vector<at::Tensor>{lse.detach(), z.detach(), best, g};
  };
  const auto want = run(*whole_, false), got = run(*split_, true);
  if (g_comm->size() > 1) {
    EXPECT_LT(split_->vocab_slice().size, spec_.vocab_size);
  }
  EXPECT_LT(rel(got[0], want[0]), 1e-5);
  EXPECT_LT(rel(got[1], want[1]), 1e-5);
  EXPECT_TRUE(at::equal(got[2], want[2])) << got[2] << want[2];
  EXPECT_LT(rel(got[3], want[3]), 1e-5);
}

TEST_P(TensorParallel, EveryExplainerGivesTheSameScores) {
  at::manual_seed(5);
  const at::Tensor t = at::randint(1, spec_.vocab_size, {14}, at::kLong);
  const Encoded s = test::make_sample(t.slice(0, 0, 13), 11, t.slice(0, 11));
  for (const std::string& method : explainer_methods()) {
    auto x = short_explainer(method);
    ExplainContext ctx;
    SCOPED_TRACE(method);
    const Explanation want = x->explain(*whole_, s, ctx);
    const Explanation got = x->explain(*split_, s, ctx);
    ASSERT_EQ(got.per_target.sizes(), want.per_target.sizes()) << method;
    if (method == "random") {
      EXPECT_TRUE(at::equal(got.per_target, want.per_target));
      continue;
    }
    EXPECT_LT(per_target_error(method, got, want, spec_.vocab_size), 1e-5) << method;
    for (const auto& [name, extra] : want.extras) {
      ASSERT_EQ(got.extras.count(name), 1u) << method << " " << name;
      // IG's completeness gap over the output change: a small difference, rounded as such.
      const double tolerance = name == "convergence_relative" ? 1e-3 : 1e-5;
      EXPECT_LT(rel_or_abs(got.extras.at(name), extra), tolerance) << method << " " << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TensorParallel, ::testing::ValuesIn(shapes()),
                         [](const auto& info) { return std::string(info.param.name); });

// The checkpoints of the model tests (4 heads: split over 1 and 2 ranks), loaded from their
// folders, so each rank reads its parts from the mapped safetensors.
class FixtureTensorParallel : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureTensorParallel, EveryExplainerGivesTheSameScores) {
  const std::string dir = std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/" + GetParam();
  std::unique_ptr<Model> whole = load_model(dir);
  if (whole->spec().num_heads % g_comm->size() != 0) GTEST_SKIP() << "heads do not split";
  TensorGroup group(*g_comm);
  LoadOptions o;
  o.tensor_group = &group;
  std::unique_ptr<Model> split = load_model(dir, o);
  at::manual_seed(6);
  const at::Tensor t = at::randint(1, 256, {12}, at::kLong);
  const Encoded s = test::make_sample(t.slice(0, 0, 11), 9, t.slice(0, 9));
  for (const std::string& method : explainer_methods()) {
    if (method == "random") continue;
    auto x = short_explainer(method);
    ExplainContext ctx;
    const Explanation want = x->explain(*whole, s, ctx);
    const Explanation got = x->explain(*split, s, ctx);
    EXPECT_LT(per_target_error(method, got, want, whole->spec().vocab_size), 1e-5)
        << GetParam() << " " << method;
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, FixtureTensorParallel,
                         ::testing::Values("gpt2", "llama_gqa", "llama3_rope", "qwen2", "gpt_neox",
                                           "gptj"));

// Encoder classifiers split over the group: synthetic BERT and RoBERTa of six heads with three
// classes (split by 1, 2 and 3) and the ViT fixture (4 heads: 1 and 2). The logits and kept
// attention of a padded batch (text) or of two images, then every explainer on a classification
// sample (the class at [CLS], every position explained), with its extras (IG's and saliency's
// pixel maps on the image).
class EncoderTensorParallel : public ::testing::TestWithParam<const char*> {};

TEST_P(EncoderTensorParallel, LogitsAttentionAndEveryExplainer) {
  const std::string name = GetParam();
  TensorGroup group(*g_comm);
  LoadOptions o;
  o.tensor_group = &group;
  std::unique_ptr<Model> whole, split;
  Encoded s;
  ForwardRequest r;
  if (name == "vit") {
    const std::string dir = std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/vit";
    whole = load_model(dir);
    if (whole->spec().num_heads % g_comm->size() != 0) GTEST_SKIP() << "heads do not split";
    split = load_model(dir, o);
    at::manual_seed(9);
    const at::Tensor pixels = at::randn({2, 3, 32, 32});
    r.pixel_values = pixels;
    s = test::image_sample(pixels[1], whole->spec().num_patches(), 2);
    s.explain_mask[0] = 0;  // [CLS] unexplained, as encode_image_sample leaves it
  } else {
    ModelSpec spec = shape_spec(shape_of(name.c_str(), 6, 0), name);
    spec.labels = {"a", "b", "c"};
    whole = make_synthetic_model(spec, 7, LoadOptions{}, at::kFloat);
    split = make_synthetic_model(spec, 7, o, at::kFloat);
    at::manual_seed(9);
    const at::Tensor ids = at::randint(5, spec.vocab_size, {2, 9}, at::kLong);
    r.input_ids = ids;
    r.attention_mask = at::ones({2, 9}, at::kLong);
    r.attention_mask[1].slice(0, 6).fill_(0);  // row 1 right-padded
    s = test::class_sample(ids[0], 1);
  }
  ASSERT_EQ(split->tensor_parallel(), g_comm->size());
  AttentionControl keep;
  keep.keep_probs = true;
  const ForwardResult want = whole->forward(r, keep), got = split->forward(r, keep);
  ASSERT_EQ(got.logits.sizes(), want.logits.sizes());
  EXPECT_EQ(got.logits.size(-1), 3);  // the classes, whole on every rank
  EXPECT_LT(rel(got.logits, want.logits), 1e-5);
  for (size_t l = 0; l < want.attn_probs.size(); ++l) {
    ASSERT_EQ(got.attn_probs[l].sizes(), want.attn_probs[l].sizes()) << l;
    EXPECT_LT(rel(got.attn_probs[l], want.attn_probs[l]), 1e-5) << l;
  }
  for (const std::string& method : explainer_methods()) {
    if (method == "random") continue;
    auto x = short_explainer(method);
    ExplainContext ctx;
    SCOPED_TRACE(method);
    const Explanation w = x->explain(*whole, s, ctx);
    const Explanation g = x->explain(*split, s, ctx);
    ASSERT_EQ(g.per_target.sizes(), w.per_target.sizes());
    // AtMan's scores are differences of class log-probabilities: judged against log 3.
    EXPECT_LT(per_target_error(method, g, w, 3), 1e-5) << name << " " << method;
    for (const auto& [extra, value] : w.extras) {
      ASSERT_EQ(g.extras.count(extra), 1u) << method << " " << extra;
      const double tolerance = extra == "convergence_relative" ? 1e-3 : 1e-5;
      EXPECT_LT(rel_or_abs(g.extras.at(extra), value), tolerance) << method << " " << extra;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Encoders, EncoderTensorParallel,
                         ::testing::Values("bert", "roberta", "vit"));

// VmRSS of this process (anonymous and mapped-file pages), bytes.
int64_t status_bytes(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = key;
  while (std::getline(f, line)) {
    if (line.rfind(k, 0) == 0) return std::stoll(line.substr(k.size())) * 1024;
  }
  return -1;
}
// Resident bytes of this process's mappings of files under `dir` (/proc/self/smaps).
int64_t mapped_bytes_under(const std::string& dir) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int64_t total = 0;
  while (std::getline(f, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(' ') > line.find('-')) {
      inside = line.find(dir) != std::string::npos;  // a mapping's header line
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      total += std::stoll(line.substr(4)) * 1024;
    }
  }
  return total;
}

// Each rank keeps its part of the weights: loading a make-model checkpoint (mapped) and running a
// forward makes about the rank's elements x 4 bytes resident (the split tensors' parts, the norms,
// biases of row-parallel layers and learned positions whole), not the whole checkpoint: the
// checkpoint's resident pages (smaps) plus what was copied out of it (anonymous memory). Rank 0
// prints the figures.
TEST(TensorParallelMemory, EachRankHoldsItsPartOfTheWeights) {
  ModelShape sh = shape_of("gpt2", 6, 0);
  sh.layers = 4;
  sh.hidden = 768;
  sh.vocab = 16384;
  sh.max_positions = 128;
  const ModelSpec spec = shape_spec(sh, "test");
  std::string dir = "/tmp/xai-tp-memory-" + std::to_string(::getpid());
  g_comm->broadcast(dir, 0);
  if (g_comm->rank() == 0) write_synthetic_model(dir, spec, 3, at::kFloat, 0);
  g_comm->barrier();
  TensorGroup group(*g_comm);
  const TensorSplit split = TensorSplit::make(spec, g_comm->rank(), g_comm->size(), "test");
  double expected = 0, whole = 0;
  for (const TensorEntry& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    expected += 4.0 * static_cast<double>(split.elements(e));
    whole += 4.0 * static_cast<double>(TensorSplit::make(spec, 0, 1, "test").elements(e));
  }
  const int64_t anon0 = status_bytes("RssAnon:");
  {
    LoadOptions o;
    o.tensor_group = &group;
    std::unique_ptr<Model> m = load_model(dir, o);
    at::NoGradGuard no_grad;
    ForwardRequest r;
    r.input_ids = at::arange(1, 9, at::kLong).view({1, 8});
    m->forward(r);  // every weight is read
    // The checkpoint's resident pages and what was copied out of it (anonymous memory); not the
    // code pages of the libraries this first load reaches.
    const double grown =
        static_cast<double>(mapped_bytes_under(dir) + status_bytes("RssAnon:") - anon0);
    // Above the parts: the page cache's folios (ext4 keeps large ones: up to 2 MB) are mapped
    // whole when a part ends inside one, so some of the neighbours' pages show too (clean, shared
    // with them, reclaimable): measured +8..27% at k = 2 and 3 on this shape.
    EXPECT_GE(grown, 0.9 * expected);
    EXPECT_LE(grown, 1.35 * expected + 2e6)
        << "rank " << g_comm->rank() << " of " << g_comm->size();
    const std::vector<int64_t> all = g_comm->allgather(static_cast<int64_t>(grown));
    if (g_comm->rank() == 0) {
      std::printf(
          "[ memory ] k = %d: whole checkpoint %.1f MB; per rank expected %.1f MB, "
          "resident growth",
          g_comm->size(), whole / 1e6, expected / 1e6);
      for (int64_t v : all) std::printf(" %.1f", static_cast<double>(v) / 1e6);
      std::printf(" MB\n");
    }
  }
  g_comm->barrier();
  if (g_comm->rank() == 0) std::filesystem::remove_all(dir);
}

TEST(TensorSplitTest, RangesCoverEverySplitDimensionOnce) {
  ModelShape sh = shape_of("llama", 12, 6);
  const ModelSpec spec = shape_spec(sh, "test");
  for (int k : {1, 2, 3, 6}) {
    int64_t q = 0, f = 0, v = 0;
    for (int r = 0; r < k; ++r) {
      const TensorSplit s = TensorSplit::make(spec, r, k, "parallel.tensor");
      EXPECT_EQ(s.query().begin, q);
      EXPECT_EQ(s.mlp().begin, f);
      EXPECT_EQ(s.vocab_rows().begin, v);
      q = s.query().end;
      f = s.mlp().end;
      v = s.vocab_rows().end;
      EXPECT_GT(s.vocab_rows().size(), 0);
    }
    EXPECT_EQ(q, spec.num_heads * spec.head_dim) << k;
    EXPECT_EQ(f, spec.intermediate_size) << k;
    EXPECT_EQ(v, spec.vocab_size) << k;
  }
  // 4 ranks, 6 key/value heads: neither divides the other.
  try {
    TensorSplit::make(spec, 0, 4, "exp.yaml:9: parallel.tensor");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parallel.tensor = 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("6 key/value heads"), std::string::npos) << e.what();
  }
  sh = shape_of("llama", 6, 1);  // one key/value head, replicated: rank 2 of 3 reads head 0
  const TensorSplit s = TensorSplit::make(shape_spec(sh, "test"), 2, 3, "parallel.tensor");
  EXPECT_EQ(s.local_kv_heads(), 1);
  EXPECT_EQ(s.kv().begin, 0);
}

}  // namespace
}  // namespace xai

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  std::unique_ptr<xai::Communicator> comm = xai::make_communicator();
  xai::g_comm = comm.get();
  // Only rank 0 prints; every rank's failures still set the exit status.
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  std::vector<int64_t> worst = {rc};
  comm->allreduce(worst, xai::ReduceOp::kMax);
  return static_cast<int>(worst[0]);
}
