// See overlays.h.
#include "framework/run/overlays.h"

#include <filesystem>
#include <fstream>

#include "framework/common/error.h"
#include "framework/image/overlay.h"
#include "methods/attribution_tree.h"

namespace xai {
namespace {

void make_parent(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
}

std::string safe(std::string s) {
  for (char& c : s) {
    if (c == '/' || c == '\\') c = '_';
  }
  return s;
}

}  // namespace

std::string overlay_path(const std::string& out_dir, const std::string& model,
                         const std::string& explainer, const std::string& sample_id) {
  namespace fs = std::filesystem;
  return (fs::path(out_dir) / "overlays" / safe(model) / safe(explainer) /
          (safe(sample_id) + ".png"))
      .string();
}

std::string write_overlay(const std::string& path, const Sample& sample, const Encoded& enc,
                          const std::vector<float>& relevance, const SampleEncoder& encoder) {
  XAI_CHECK(sample.is_image() && enc.image(), "internal: an overlay needs an image sample");
  const int64_t G = encoder.geometry().grid();
  XAI_CHECK(static_cast<int64_t>(relevance.size()) == 1 + G * G, "internal: ", relevance.size(),
            " scores for a ", G, "x", G, " grid");
  const std::vector<double> grid(relevance.begin() + 1, relevance.end());
  const Image out = heatmap_overlay(*sample.image, grid, G, G, encoder.image_processor());
  make_parent(path);
  write_png(path, out);
  return path;
}

std::string tree_path(const std::string& out_dir, const std::string& model,
                      const std::string& explainer, const std::string& sample_id) {
  namespace fs = std::filesystem;
  return (fs::path(out_dir) / "trees" / safe(model) / safe(explainer) / (safe(sample_id) + ".svg"))
      .string();
}

bool write_tree(const std::string& path, const std::map<std::string, ExtraArray>& extras,
                const Encoded& enc, int64_t layers, const std::string& title) {
  auto edges = extras.find("tree_edges"), top = extras.find("tree_top");
  if (edges == extras.end() || top == extras.end() || top->second.values.empty()) return false;
  const std::vector<float>& v = edges->second.values;
  const AttributionTree tree = tree_from_rows(static_cast<int64_t>(top->second.values[0]),
                                              std::vector<double>(v.begin(), v.end()));
  make_parent(path);
  std::ofstream out(path);
  out << attribution_tree_svg(tree, enc.tokens, layers, title);
  out.close();
  XAI_CHECK(out.good(), path, ": cannot write the attribution tree");
  // Beside the drawing, the tree as JSON (the same stem).
  const std::string json = std::filesystem::path(path).replace_extension(".json").string();
  std::ofstream j(json);
  j << attribution_tree_json(tree, enc.tokens);
  j.close();
  XAI_CHECK(j.good(), json, ": cannot write the attribution tree");
  return true;
}

}  // namespace xai
