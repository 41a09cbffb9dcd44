// AttAttr's head pruning (framework/eval/pruning.h): a head pruned by zeroing its attention
// probabilities gives the logits of the same model with that head's columns of the attention
// output projection zeroed (an independent way to silence a head), on the toy BERT and the toy
// ViT; the pruning order and the global and per-layer masks; the curves' first point is the plain
// accuracy; samples dealt over two "ranks" (the sums between them played by hand) give the curves
// of one; the SVG's structure.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "datasets/dataset.h"
#include "datasets/toy/toy_shapes.h"
#include "framework/common/error.h"
#include "framework/eval/pruning.h"
#include "framework/image/image_processor.h"
#include "framework/image/image_sample.h"
#include "framework/model/arch_registry.h"
#include "framework/model/family.h"
#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "framework/text/encoded.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

std::string source_path(const std::string& rel) { return std::string(XAI_SOURCE_DIR) + "/" + rel; }

// The checkpoint's weights by name, with head `h` of layer `l` cut out of the output projection.
TensorMap weights_without_head(const std::string& dir, const ModelSpec& spec,
                               const std::string& o_proj, int64_t l, int64_t h) {
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  TensorMap w;
  for (const auto& e : tensor_table(spec)) {
    if (e.role == TensorRole::kTied) continue;
    w[e.name] = file->get(e.name).to(at::kFloat).clone();
  }
  const int64_t Dh = spec.hidden_size / spec.num_heads;
  w.at(o_proj).narrow(1, h * Dh, Dh).zero_();  // (D_out, D_in): the head's input columns
  return w;
}

std::vector<Encoded> toy_bert_samples(const Model& m, int64_t n) {
  const Tokenizer tok =
      Tokenizer::from_file(source_path("datasets/toy/models/toy_bert/tokenizer.json"));
  DatasetOptions d;
  d.limit = n;
  std::vector<Encoded> out;
  for (const Sample& s : read_all(*open_dataset("toy_classify", d))) {
    out.push_back(encode_sample(s, tok, m.spec().max_positions, m.spec().labels));
  }
  return out;
}

TEST(Pruning, ZeroedProbabilitiesEqualAHeadCutFromTheOutputProjection) {
  struct Case {
    std::string dir, o_proj;
    int64_t layer, head;
  };
  for (const Case& c : {Case{"datasets/toy/models/toy_bert",
                             "bert.encoder.layer.1.attention.output.dense.weight", 1, 2},
                        Case{"datasets/toy/models/toy_vit",
                             "vit.encoder.layer.0.attention.output.dense.weight", 0, 3}}) {
    const std::string dir = source_path(c.dir);
    auto model = load_model(dir);
    const ModelSpec& spec = model->spec();
    auto cut = build_model(spec, weights_without_head(dir, spec, c.o_proj, c.layer, c.head));
    std::vector<Encoded> samples;
    if (reads_images(spec)) {
      const ImageProcessor p = ImageProcessor::from_file(dir + "/preprocessor_config.json");
      toy::ToyShapeOptions o;
      for (int64_t i = 0; i < 3; ++i) {
        samples.push_back(encode_image_sample(toy::toy_shape_sample(o, i), p,
                                              {spec.image_size, spec.patch_size}, spec.labels));
      }
    } else {
      samples = toy_bert_samples(*model, 3);
    }
    at::Tensor keep = at::ones({spec.num_layers, spec.num_heads});
    keep[c.layer][c.head] = 0;
    for (const Encoded& s : samples) {
      const at::Tensor got = pruned_logits(*model, s, keep);
      const at::Tensor want = pruned_logits(*cut, s, at::Tensor());
      const at::Tensor plain = pruned_logits(*model, s, at::Tensor());
      EXPECT_LT((got - want).abs().max().item<double>(), 1e-5) << c.dir;
      EXPECT_GT((got - plain).abs().max().item<double>(), 1e-4) << c.dir << ": the head mattered";
    }
  }
}

TEST(Pruning, OrderAndCurves) {
  EXPECT_EQ(pruning_order({0.5, 0.1, 0.5, 0.2}), (std::vector<int64_t>{1, 3, 0, 2}));
  auto model = load_model(source_path("datasets/toy/models/toy_bert"));
  const std::vector<Encoded> samples = toy_bert_samples(*model, 30);
  const int64_t LH = model->spec().num_layers * model->spec().num_heads;
  std::vector<double> importance(static_cast<size_t>(LH));
  for (int64_t i = 0; i < LH; ++i)
    importance[static_cast<size_t>(i)] = static_cast<double>((i * 5) % LH);
  const int64_t L = model->spec().num_layers, H = model->spec().num_heads;
  const PruningCurves c = pruning_curves(model.get(), samples, importance, L, H, 100);
  ASSERT_EQ(static_cast<int64_t>(c.pruned.size()), LH + 1);  // every count once: 0 .. L*H
  EXPECT_EQ(c.pruned.front(), 0);
  EXPECT_EQ(c.pruned.back(), LH);
  int64_t right = 0;
  for (const Encoded& s : samples) {
    right +=
        pruned_logits(*model, s, at::Tensor())[0][0].argmax().item<int64_t>() == s.target_ids[0];
  }
  EXPECT_DOUBLE_EQ(c.accuracy_by_importance[0], static_cast<double>(right) / 30.0);
  EXPECT_DOUBLE_EQ(c.accuracy_by_attention[0], c.accuracy_by_importance[0]);
  // With every head pruned both orders reach the same model.
  EXPECT_DOUBLE_EQ(c.accuracy_by_importance.back(), c.accuracy_by_attention.back());
  for (double a : c.attention) {
    EXPECT_GT(a, 0.0);
    EXPECT_LE(a, 1.0 + 1e-6);
  }
  // Per layer: every count 0 .. H, the same first point, and all heads of every layer at the end
  // is the global curve's last point.
  ASSERT_EQ(static_cast<int64_t>(c.pruned_per_layer.size()), H + 1);
  EXPECT_DOUBLE_EQ(c.per_layer_by_importance[0], c.accuracy_by_importance[0]);
  EXPECT_DOUBLE_EQ(c.per_layer_by_attention[0], c.accuracy_by_importance[0]);
  EXPECT_DOUBLE_EQ(c.per_layer_by_importance.back(), c.accuracy_by_importance.back());
  EXPECT_DOUBLE_EQ(c.per_layer_by_attention.back(), c.accuracy_by_importance.back());
  // Each point is the accuracy with that mask, counted here by hand.
  for (size_t i = 1; i + 1 < c.pruned_per_layer.size(); ++i) {
    const at::Tensor keep = per_layer_keep_mask(importance, c.pruned_per_layer[i], L, H);
    int64_t ok = 0;
    for (const Encoded& s : samples) {
      ok += pruned_logits(*model, s, keep)[0][0].argmax().item<int64_t>() == s.target_ids[0];
    }
    EXPECT_DOUBLE_EQ(c.per_layer_by_importance[i], static_cast<double>(ok) / 30.0) << i;
  }
  const PruningCurves few = pruning_curves(model.get(), samples, importance, L, H, 3);
  EXPECT_EQ(few.pruned, (std::vector<int64_t>{0, LH / 2, LH}));
  EXPECT_EQ(few.pruned_per_layer, (std::vector<int64_t>{0, H / 2, H}));
  const std::string svg = pruning_svg(c, "test");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++lines;
  EXPECT_EQ(lines, 4u);  // two orders, global and per layer
  EXPECT_THROW(pruning_curves(model.get(), samples, {1.0, 2.0}, L, H, 5), Error);
  EXPECT_THROW(pruning_curves(model.get(), samples, importance, L + 1, H, 5), Error);
  EXPECT_THROW(pruning_curves(nullptr, samples, importance, L, H, 5), Error);
}

TEST(Pruning, Masks) {
  // Scores of 2 layers x 3 heads; global: the k lowest of all six; per layer: the k lowest of each.
  const std::vector<double> scores = {0.3, 0.1, 0.9, 0.2, 0.8, 0.05};
  const std::vector<int64_t> order = pruning_order(scores);
  EXPECT_EQ(order, (std::vector<int64_t>{5, 1, 3, 0, 4, 2}));
  auto as_vector = [](const at::Tensor& t) {
    const at::Tensor c = t.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  EXPECT_EQ(as_vector(global_keep_mask(order, 3, 2, 3)), (std::vector<float>{1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(as_vector(per_layer_keep_mask(scores, 1, 2, 3)),
            (std::vector<float>{1, 0, 1, 1, 1, 0}));
  EXPECT_EQ(as_vector(per_layer_keep_mask(scores, 2, 2, 3)),
            (std::vector<float>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(as_vector(per_layer_keep_mask(scores, 0, 2, 3)),
            (std::vector<float>{1, 1, 1, 1, 1, 1}));
}

// Two ranks' shares run one after the other: each rank's sums are recorded, then replayed into the
// other's, as an allreduce would give them.
TEST(Pruning, SamplesDealtOverRanksGiveTheCurvesOfOne) {
  auto model = load_model(source_path("datasets/toy/models/toy_bert"));
  const int64_t L = model->spec().num_layers, H = model->spec().num_heads;
  const std::vector<Encoded> samples = toy_bert_samples(*model, 11);
  std::vector<Encoded> share[2];
  for (size_t i = 0; i < samples.size(); ++i) share[i % 2].push_back(samples[i]);
  std::vector<double> importance(static_cast<size_t>(L * H));
  for (size_t i = 0; i < importance.size(); ++i) importance[i] = std::sin(3.0 * i);
  const PruningCurves one = pruning_curves(model.get(), samples, importance, L, H, 6);

  struct Stop {};
  std::vector<std::vector<double>> sums[2];  // each share's own vectors, by call
  for (int r = 0; r < 2; ++r) {              // the first sums of each alone
    try {
      pruning_curves(model.get(), share[r], importance, L, H, 6, [&](std::vector<double>& v) {
        sums[r].push_back(v);
        throw Stop{};
      });
    } catch (const Stop&) {
    }
  }
  // Rank 1 with rank 0's first sum: its second sum depends on the summed attention.
  size_t call = 0;
  pruning_curves(model.get(), share[1], importance, L, H, 6, [&](std::vector<double>& v) {
    if (call++ == 0) {
      for (size_t i = 0; i < v.size(); ++i) v[i] += sums[0][0][i];
    } else {
      sums[1].push_back(v);
    }
  });
  call = 0;
  const PruningCurves two =
      pruning_curves(model.get(), share[0], importance, L, H, 6, [&](std::vector<double>& v) {
        const std::vector<double>& other = sums[1].at(call++);
        ASSERT_EQ(v.size(), other.size());
        for (size_t i = 0; i < v.size(); ++i) v[i] += other[i];
      });
  EXPECT_EQ(two.samples, 11);
  EXPECT_EQ(two.forward_passes, one.forward_passes);
  ASSERT_EQ(two.attention.size(), one.attention.size());
  for (size_t i = 0; i < one.attention.size(); ++i) {
    EXPECT_NEAR(two.attention[i], one.attention[i], 1e-12);
  }
  EXPECT_EQ(two.accuracy_by_importance, one.accuracy_by_importance);
  EXPECT_EQ(two.accuracy_by_attention, one.accuracy_by_attention);
  EXPECT_EQ(two.per_layer_by_importance, one.per_layer_by_importance);
  EXPECT_EQ(two.per_layer_by_attention, one.per_layer_by_attention);
  // A rank with no samples takes part with no model.
  EXPECT_NO_THROW(pruning_curves(nullptr, {}, importance, L, H, 6, [](std::vector<double>& v) {
    v.back() += 1;  // as if another rank had a sample
  }));
}

}  // namespace
}  // namespace xai
