// AttAttr's attribution tree (Hao et al. 2021, section 5): the information flow inside the model
// for one prediction, from the per-layer self-attention attribution summed over heads.
//
// As the paper's code builds it (attribution_tree.py of YRdddream/attattr, written for 12 layers;
// here for L): per layer l the head-summed attribution A_l (T x T, row = query i, column = key j)
// is divided by |the largest entry of the rows other than [CLS]| (position 0) and kept where it is
// above tau (0.4 in the paper). The top node is the position other than [CLS] with the largest row
// sum of S = sum_l A_l / |max S| without its diagonal and negative entries. The last layer is left
// out (only its [CLS] row is read after it: the code starts at layer 10 of 12): at layer L - 2 the
// top node takes every position above tau as a child; then from layer L - 3 down to 0, in
// position order, each tree node other than [CLS] takes every position not yet in the tree that
// is above tau from it (a node that joins in a layer can take children in that layer). Each
// position joins once, so the edges form a tree rooted at the top node, one node per token as the
// code draws it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xai {

struct AttributionEdge {
  int64_t layer = 0;  // where `from` joins the tree
  int64_t from = 0;   // the position whose information flows (key)
  int64_t to = 0;     // the tree node it flows into (query)
  double score = 0;   // the normalised attribution N_layer[to, from]
};

struct AttributionTree {
  int64_t top = 0;
  double tau = 0.4;
  std::vector<AttributionEdge> edges;
};

// `layers`: L matrices of T x T (row-major), A_l summed over heads. Throws xai::Error when the
// sizes disagree or T < 2.
AttributionTree attribution_tree(const std::vector<std::vector<double>>& layers, int64_t T,
                                 double tau = 0.4);

// The edges as rows (layer, from, to, score), E x 4 row-major: how attattr stores a tree (extras
// "tree_edges", with "tree_top"), and back, for the drawings.
std::vector<float> tree_edge_rows(const AttributionTree& tree);
AttributionTree tree_from_rows(int64_t top, const std::vector<double>& rows);

// The tree as JSON: {"top", "top_token", "tokens", "edges": [{"layer", "from", "to", "score",
// "from_token", "to_token"}]} (edges in the order they joined).
std::string attribution_tree_json(const AttributionTree& tree,
                                  const std::vector<std::string>& tokens);

// The tree as an SVG drawing: the tokens along the bottom, the layers upwards, each edge a line
// from a token at the layer it joins to its parent one layer up (the top node above the last
// layer), its width by score.
std::string attribution_tree_svg(const AttributionTree& tree,
                                 const std::vector<std::string>& tokens, int64_t layers,
                                 const std::string& title);

}  // namespace xai
