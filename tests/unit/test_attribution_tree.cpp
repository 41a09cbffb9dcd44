// AttAttr's attribution tree (methods/attribution_tree.h): a hand-worked example (normalisation
// without the [CLS] row, the top node, the last layer left out, tau, one parent per token in
// position order, layers top-down), the paper's code re-written in numpy on random attributions,
// the tree property on the toy BERT through attattr with tree: true, and the SVG drawing.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
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
  // T = 4, three layers; rows are queries. The last layer (2) only votes for the top node: its
  // large entry makes row 1 the largest row sum of S = sum_l A_l, so the top is 1.
  // clang-format off
  const std::vector<double> l2 = {0, 0,   0, 0,
                                  0, 0, 100, 0,
                                  0, 0,   0, 0,
                                  0, 0,   0, 0};
  // Layer 1 (L - 2, the top node's): row 0 ([CLS]) holds the largest value (10), which the
  // normalisation ignores: its max over rows 1.. is 2 (row 1 <- 2), so 1 <- 2 is 1.0 and 1 <- 3
  // is 0.3.
  const std::vector<double> l1 = {0, 0, 0, 10,
                                  0, 0, 2, 0.6,
                                  0, 0, 0, 0,
                                  0, 0, 0, 0};
  // Layer 0: max 4 (row 3 <- 0): 3 <- 0 is 1.0, 1 <- 3 is 0.5, 2 <- 3 is 0.25.
  const std::vector<double> l0 = {0, 0, 0, 0,
                                  0, 0, 0, 2,
                                  0, 0, 0, 1,
                                  4, 0, 0, 0};
  // clang-format on
  const AttributionTree t = attribution_tree({l0, l1, l2}, 4, 0.4);
  EXPECT_EQ(t.top, 1);
  // Layer 1: the top takes 2 (1.0), not 3 (0.3 <= tau). Layer 0, in position order: node 1 takes
  // 3 (0.5); node 2's 0.25 is below tau; node 3, which joined in this layer, takes [CLS] (1.0).
  ASSERT_EQ(t.edges.size(), 3u);
  const std::vector<std::vector<double>> want = {{1, 2, 1, 1.0}, {0, 3, 1, 0.5}, {0, 0, 3, 1.0}};
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(t.edges[k].layer, want[k][0]) << k;
    EXPECT_EQ(t.edges[k].from, want[k][1]) << k;
    EXPECT_EQ(t.edges[k].to, want[k][2]) << k;
    EXPECT_DOUBLE_EQ(t.edges[k].score, want[k][3]) << k;
  }
  // A lower tau lets 3 join the top at layer 1 already (0.3 > 0.25); [CLS] then joins 3 below.
  const AttributionTree low = attribution_tree({l0, l1, l2}, 4, 0.25);
  ASSERT_EQ(low.edges.size(), 3u);
  EXPECT_EQ(low.edges[1].layer, 1);
  EXPECT_EQ(low.edges[1].from, 3);
  EXPECT_EQ(low.edges[2].from, 0);
  EXPECT_EQ(low.edges[2].to, 3);
  EXPECT_THROW(attribution_tree({l0}, 3, 0.4), Error);
  const std::string svg = attribution_tree_svg(t, {"[CLS]", "a<b", "c", "d"}, 3, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a&lt;b"), std::string::npos);
  size_t lines = 0;
  for (size_t p = svg.find("<line"); p != std::string::npos; p = svg.find("<line", p + 1)) ++lines;
  EXPECT_EQ(lines, 3u);
  // The JSON export: the same edges with their tokens.
  const nlohmann::json j =
      nlohmann::json::parse(attribution_tree_json(t, {"[CLS]", "a", "b", "c"}));
  EXPECT_EQ(j["top"], 1);
  EXPECT_EQ(j["top_token"], "a");
  ASSERT_EQ(j["edges"].size(), 3u);
  EXPECT_EQ(j["edges"][2]["from_token"], "[CLS]");
  EXPECT_EQ(j["edges"][2]["to_token"], "c");
  EXPECT_EQ(j["edges"][1]["layer"], 0);
  EXPECT_DOUBLE_EQ(j["edges"][1]["score"].get<double>(), 0.5);
}

// Against the paper's code re-written in numpy (tests/reference/attribution_tree_fixtures.py): 8
// random attributions of 1 to 12 layers and 5 to 20 positions, the same top node and edges.
TEST(AttributionTree, MatchesThePapersCode) {
  std::ifstream in(test::fixture("attribution_tree/trees.json"));
  const nlohmann::json cases = nlohmann::json::parse(in);
  ASSERT_EQ(cases.size(), 8u);
  size_t edges = 0;
  for (const auto& c : cases) {
    const int64_t L = c["L"], T = c["T"];
    const double tau = c["tau"];
    const std::vector<double> all = c["layers"];
    std::vector<std::vector<double>> layers;
    for (int64_t l = 0; l < L; ++l) {
      layers.emplace_back(all.begin() + l * T * T, all.begin() + (l + 1) * T * T);
    }
    const AttributionTree t = attribution_tree(layers, T, tau);
    const std::string what = std::to_string(L) + " layers, " + std::to_string(T) + " positions";
    EXPECT_EQ(t.top, c["top"].get<int64_t>()) << what;
    ASSERT_EQ(t.edges.size(), c["edges"].size()) << what;
    for (size_t k = 0; k < t.edges.size(); ++k) {
      const auto& e = c["edges"][k];
      EXPECT_EQ(t.edges[k].layer, e[0].get<int64_t>()) << what << " edge " << k;
      EXPECT_EQ(t.edges[k].from, e[1].get<int64_t>()) << what << " edge " << k;
      EXPECT_EQ(t.edges[k].to, e[2].get<int64_t>()) << what << " edge " << k;
      EXPECT_GT(t.edges[k].score, tau);
    }
    edges += t.edges.size();
  }
  EXPECT_GE(edges, 30u);  // the cases grow real trees
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
