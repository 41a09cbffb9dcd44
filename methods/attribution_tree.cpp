// See attribution_tree.h.
#include "methods/attribution_tree.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "framework/common/error.h"

namespace xai {

AttributionTree attribution_tree(const std::vector<std::vector<double>>& layers, int64_t T,
                                 double tau) {
  XAI_CHECK(T >= 2, "attribution tree: needs at least 2 positions (got ", T, ")");
  XAI_CHECK(!layers.empty(), "attribution tree: no layers");
  const int64_t L = static_cast<int64_t>(layers.size());
  auto at = [T](const std::vector<double>& m, int64_t i, int64_t j) {
    return m[static_cast<size_t>(i * T + j)];
  };
  // Per layer: A_l divided by |the largest entry of the rows below [CLS]|, kept where > tau.
  std::vector<std::vector<double>> n(layers.size());
  for (int64_t l = 0; l < L; ++l) {
    const auto& a = layers[static_cast<size_t>(l)];
    XAI_CHECK(static_cast<int64_t>(a.size()) == T * T, "attribution tree: layer ", l, " has ",
              a.size(), " values for ", T, " x ", T);
    double mx = -INFINITY;
    for (int64_t i = 1; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) mx = std::max(mx, at(a, i, j));
    const double scale = std::fabs(mx);
    auto& nl = n[static_cast<size_t>(l)];
    nl.resize(a.size());
    for (size_t k = 0; k < a.size(); ++k) {
      const double v = scale > 0 ? a[k] / scale : 0.0;
      nl[k] = v > tau ? v : 0.0;
    }
  }
  AttributionTree tree;
  tree.tau = tau;
  // The top node: the largest row sum of S = sum_l A_l over |max S|, without the diagonal,
  // negative entries and the [CLS] row; ties to the later position.
  std::vector<double> sum(static_cast<size_t>(T * T), 0.0);
  for (const auto& a : layers)
    for (size_t k = 0; k < a.size(); ++k) sum[k] += a[k];
  const double smax = std::fabs(*std::max_element(sum.begin(), sum.end()));
  double best = -INFINITY;
  for (int64_t i = 1; i < T; ++i) {
    double row = 0;
    for (int64_t j = 0; j < T; ++j) {
      const double v = smax > 0 ? at(sum, i, j) / smax : 0.0;
      if (j != i && v > 0) row += v;
    }
    if (row >= best) {
      best = row;
      tree.top = i;
    }
  }
  // The last layer is left out: only its [CLS] row (the prediction's) is read after it, so the
  // other rows carry no attribution. One layer below it the top node takes every position above
  // tau; then layer by layer down to 0 each position not yet in the tree joins the first tree node
  // (by position, [CLS] excluded) above tau, and may take children itself in the same layer.
  const int64_t first = L >= 2 ? L - 2 : 0;
  std::vector<char> in_tree(static_cast<size_t>(T), 0);
  in_tree[static_cast<size_t>(tree.top)] = 1;
  const auto& nf = n[static_cast<size_t>(first)];
  for (int64_t j = 0; j < T; ++j) {
    if (j == tree.top || at(nf, tree.top, j) <= 0) continue;
    tree.edges.push_back({first, j, tree.top, at(nf, tree.top, j)});
    in_tree[static_cast<size_t>(j)] = 1;
  }
  for (int64_t l = first - 1; l >= 0; --l) {
    const auto& nl = n[static_cast<size_t>(l)];
    for (int64_t i = 1; i < T; ++i) {
      if (!in_tree[static_cast<size_t>(i)]) continue;
      for (int64_t j = 0; j < T; ++j) {
        if (in_tree[static_cast<size_t>(j)] || at(nl, i, j) <= 0) continue;
        tree.edges.push_back({l, j, i, at(nl, i, j)});
        in_tree[static_cast<size_t>(j)] = 1;
      }
    }
  }
  return tree;
}

std::vector<float> tree_edge_rows(const AttributionTree& tree) {
  std::vector<float> rows;
  for (const AttributionEdge& e : tree.edges) {
    rows.insert(rows.end(), {static_cast<float>(e.layer), static_cast<float>(e.from),
                             static_cast<float>(e.to), static_cast<float>(e.score)});
  }
  return rows;
}

AttributionTree tree_from_rows(int64_t top, const std::vector<double>& rows) {
  XAI_CHECK(rows.size() % 4 == 0, "attribution tree: ", rows.size(),
            " edge values, not rows of 4 (layer, from, to, score)");
  AttributionTree tree;
  tree.top = top;
  for (size_t k = 0; k < rows.size(); k += 4) {
    tree.edges.push_back({static_cast<int64_t>(rows[k]), static_cast<int64_t>(rows[k + 1]),
                          static_cast<int64_t>(rows[k + 2]), rows[k + 3]});
  }
  return tree;
}

std::string attribution_tree_json(const AttributionTree& tree,
                                  const std::vector<std::string>& tokens) {
  auto token = [&](int64_t i) {
    return i >= 0 && i < static_cast<int64_t>(tokens.size()) ? tokens[static_cast<size_t>(i)]
                                                             : std::string();
  };
  nlohmann::ordered_json j;
  j["top"] = tree.top;
  j["top_token"] = token(tree.top);
  j["tokens"] = tokens;
  j["edges"] = nlohmann::ordered_json::array();
  for (const AttributionEdge& e : tree.edges) {
    j["edges"].push_back({{"layer", e.layer},
                          {"from", e.from},
                          {"to", e.to},
                          {"score", e.score},
                          {"from_token", token(e.from)},
                          {"to_token", token(e.to)}});
  }
  // Tokens are the tokenizer's text, which may hold bytes of a split character: replaced, not
  // thrown on.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string attribution_tree_svg(const AttributionTree& tree,
                                 const std::vector<std::string>& tokens, int64_t layers,
                                 const std::string& title) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  const double col = 64, row = 48, left = 48, top = 40, bottom = 60;
  const double W = left * 2 + col * static_cast<double>(std::max<int64_t>(T - 1, 1));
  const double H = top + bottom + row * static_cast<double>(layers + 1);
  auto x = [&](int64_t t) { return left + col * static_cast<double>(t); };
  // Layer l at height l (0 at the bottom); the top node sits one row above the last layer.
  auto y = [&](double level) { return top + row * (static_cast<double>(layers) - level); };
  // Each position's level in the tree: the layer it joined at, the top node at `layers`.
  std::vector<double> level(static_cast<size_t>(T), -1);
  if (tree.top >= 0 && tree.top < T)
    level[static_cast<size_t>(tree.top)] = static_cast<double>(layers);
  for (const AttributionEdge& e : tree.edges) {
    if (e.from >= 0 && e.from < T)
      level[static_cast<size_t>(e.from)] = static_cast<double>(e.layer);
  }
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"" << W / 2
     << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">" << xml_escape(title) << "</text>\n";
  for (int64_t l = 0; l < layers; ++l) {
    os << "<text x=\"4\" y=\"" << y(static_cast<double>(l)) + 4 << "\" fill=\"#888\">L" << l
       << "</text>\n";
  }
  for (const AttributionEdge& e : tree.edges) {
    const double parent =
        e.to == tree.top ? static_cast<double>(layers) : level[static_cast<size_t>(e.to)];
    os << "<line x1=\"" << x(e.from) << "\" y1=\"" << y(static_cast<double>(e.layer)) << "\" x2=\""
       << x(e.to) << "\" y2=\"" << y(std::max(parent, static_cast<double>(e.layer) + 1))
       << "\" stroke=\"#d62728\" stroke-width=\"" << 1 + 3 * std::min(1.0, e.score) << "\"/>\n";
  }
  for (int64_t t = 0; t < T; ++t) {
    const double lv = level[static_cast<size_t>(t)];
    if (lv >= 0) {
      os << "<circle cx=\"" << x(t) << "\" cy=\"" << y(lv) << "\" r=\"5\" fill=\""
         << (t == tree.top ? "#d62728" : "#1f77b4") << "\"/>\n";
    }
    os << "<text x=\"" << x(t) << "\" y=\"" << H - bottom + 24 << "\" text-anchor=\"end\" "
       << "transform=\"rotate(-40 " << x(t) << " " << H - bottom + 24 << ")\">"
       << xml_escape(tokens[static_cast<size_t>(t)]) << "</text>\n";
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace xai
