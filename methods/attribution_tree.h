// AttAttr's attribution tree (Hao et al. 2021, section 5): the information flow inside the model
// for one prediction, from the per-layer self-attention attribution summed over heads.
//
// Per layer l the head-summed attribution A_l (T x T, row = query i, column = key j) is divided
// by max |A_l| over the rows other than [CLS] (position 0), the paper code's normalisation. The
// top node is the position other than [CLS] with the largest row sum of the normalised matrices
// summed over layers, without their diagonal. Going down from the last layer to the first, every
// position not yet in the tree joins it at that layer when some tree node i has a normalised
// attribution N_l[i, j] > tau from it (tau 0.4 in the paper), attached to the i with the largest
// one: each position joins once, so the edges form a tree rooted at the top node (the paper's
// "maximum tree"; its figures also repeat a token at several layers, which this form does not).
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

// The tree as an SVG drawing: the tokens along the bottom, the layers upwards, each edge a line
// from a token at the layer it joins to its parent one layer up (the top node above the last
// layer), its width by score.
std::string attribution_tree_svg(const AttributionTree& tree,
                                 const std::vector<std::string>& tokens, int64_t layers,
                                 const std::string& title);

}  // namespace xai
