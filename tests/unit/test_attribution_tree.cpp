// AttAttr's attribution tree (methods/attribution_tree.h): a hand-worked example (normalisation
// without the [CLS] row, the top node, tau, one parent per token, layers top-down), the tree
// property on the toy BERT through attattr with tree: true, and the SVG drawing.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include "datasets/dataset.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/model/model.h"
#include "methods/attribution_tree.h"
#include "methods/explainer.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

TEST(AttributionTree, HandWorkedExample) {
  // T = 4, two layers; rows are queries. Layer 1 (the last): row 0 ([CLS]) holds the largest value
  // (10), which the normalisation ignores: its max over rows 1.. is 2 (row 2 <- 1).
  // clang-format off
  const std::vector<double> l1 = {10, 0, 0, 0,
                                   0,  0, 0, 0,
                                   0,  2, 0, 0.6,
                                   0,  0, 0, 0};
  // Layer 0: max 4 (row 3 <- 0); normalised 3 <- 0 is 1.0, 1 <- 3 is 0.5, 2 <- 3 is 0.25.
  const std::vector<double> l0 = {0, 0, 0, 0,
                                  0, 0, 0, 2,
                                  0, 0, 0, 1,
                                  4, 0, 0, 0};
  // clang-format on
  const AttributionTree t = attribution_tree({l0, l1}, 4, 0.4);
  // Row sums without the diagonal over both normalised layers: row 1: 0.5, row 2: 1 + 0.3 +
  // 0.25 = 1.55, row 3: 1.0. The top is 2.
  EXPECT_EQ(t.top, 2);
  // Layer 1, from the tree {2}: 1 -> 2 (1.0) joins; 3 -> 2 is 0.3 <= tau, not yet.
  // Layer 0, tree {2, 1}: 3 -> 1 (0.5) beats 3 -> 2 (0.25); 0 has no edge into the tree above tau
  // (only 3 <- 0, and 3 joins in this same layer).
  ASSERT_EQ(t.edges.size(), 2u);
  EXPECT_EQ(t.edges[0].layer, 1);
  EXPECT_EQ(t.edges[0].from, 1);
  EXPECT_EQ(t.edges[0].to, 2);
  EXPECT_DOUBLE_EQ(t.edges[0].score, 1.0);
  EXPECT_EQ(t.edges[1].layer, 0);
  EXPECT_EQ(t.edges[1].from, 3);
  EXPECT_EQ(t.edges[1].to, 1);
  EXPECT_DOUBLE_EQ(t.edges[1].score, 0.5);
  // A lower tau lets 3 join at layer 1 already (0.3 > 0.25).
  const AttributionTree low = attribution_tree({l0, l1}, 4, 0.25);
  EXPECT_EQ(low.edges.size(), 3u);  // 1 and 3 at layer 1, then 0 -> 3 at layer 0 (1.0)
  EXPECT_THROW(attribution_tree({l0}, 3, 0.4), Error);
  const std::string svg = attribution_tree_svg(t, {"[CLS]", "a<b", "c", "d"}, 2, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a&lt;b"), std::string::npos);
  size_t lines = 0;
  for (size_t p = svg.find("<line"); p != std::string::npos; p = svg.find("<line", p + 1)) ++lines;
  EXPECT_EQ(lines, 2u);
}

TEST(AttributionTree, AttAttrBuildsATreeOnTheToyBert) {
  const std::string dir = std::string(XAI_SOURCE_DIR) + "/datasets/toy/models/toy_bert";
  auto model = load_model(dir);
  const Tokenizer tok = Tokenizer::from_file(dir + "/tokenizer.json");
  DatasetOptions d;
  d.limit = 8;
  Config c = Config::parse("{steps: 4, tree: true}", "test");
  auto attattr = make_explainer("attattr", c.root());
  c.finish_all();
  std::vector<Sample> samples = read_all(*open_dataset("toy_classify", d));
  // A text whose cue decides: the tree's top node is the adjective, with edges into it.
  Sample cue;
  cue.id = "cue";
  cue.prompt = "the film was truly wonderful and the dog";
  cue.label = "positive";
  samples.insert(samples.begin(), cue);
  for (const Sample& s : samples) {
    const Encoded e = encode_sample(s, tok, model->spec().max_positions, model->spec().labels);
    ExplainContext ctx;
    const Explanation ex = attattr->explain(*model, e, ctx);
    ASSERT_TRUE(ex.extras.count("tree_edges"));
    const at::Tensor edges = ex.extras.at("tree_edges");
    const int64_t top = static_cast<int64_t>(ex.extras.at("tree_top").item<float>());
    EXPECT_GE(top, 1);
    EXPECT_LT(top, e.size());
    ASSERT_EQ(edges.dim(), 2);
    ASSERT_EQ(edges.size(1), 4);
    if (s.id == "cue") {
      EXPECT_EQ(e.tokens[static_cast<size_t>(top)], "wonderful");
      EXPECT_GT(edges.size(0), 0);
    }
    std::set<int64_t> in_tree = {top};
    int64_t last_layer = model->spec().num_layers;
    for (int64_t k = 0; k < edges.size(0); ++k) {
      const int64_t layer = static_cast<int64_t>(edges[k][0].item<float>());
      const int64_t from = static_cast<int64_t>(edges[k][1].item<float>());
      const int64_t to = static_cast<int64_t>(edges[k][2].item<float>());
      EXPECT_LE(layer, last_layer) << "layers go top-down";
      last_layer = layer;
      EXPECT_GT(edges[k][3].item<float>(), 0.4f);
      EXPECT_TRUE(in_tree.count(to)) << "the parent is already in the tree";
      EXPECT_TRUE(in_tree.insert(from).second) << "a position joins once";
    }
  }
}

}  // namespace
}  // namespace xai
