// See overlays.h.
#include "framework/run/overlays.h"

#include <filesystem>

#include "framework/common/error.h"
#include "framework/image/overlay.h"

namespace xai {
namespace {

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
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_png(path, out);
  return path;
}

}  // namespace xai
