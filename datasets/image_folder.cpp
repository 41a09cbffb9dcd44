// See image_folder.h.
#include "datasets/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "framework/common/error.h"
#include "framework/image/image.h"

namespace xai {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_mask(const fs::path& p) {
  return lower(p.filename().string()).find(".mask.") != std::string::npos;
}

bool is_image(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return (ext == ".png" || ext == ".jpg" || ext == ".jpeg") && !is_mask(p);
}

struct Entry {
  std::string id, label, image, mask;  // mask: "" when none
};

class ImageFolder final : public Dataset {
 public:
  ImageFolder(std::string source, std::vector<Entry> entries)
      : source_(std::move(source)), entries_(std::move(entries)) {}
  const std::string& source() const override { return source_; }
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  std::string id(int64_t i) const override { return at(i).id; }
  std::string locate(int64_t i) const override { return at(i).image; }
  Sample get(int64_t i) const override {
    const Entry& e = at(i);
    Sample s;
    s.id = e.id;
    s.label = e.label;
    s.image_path = e.image;
    const std::string what = str_cat(source_, ": sample '", e.id, "'");
    s.image = read_sample_image(e.image, what);
    if (!e.mask.empty()) s.mask = read_sample_image(e.mask, what + " (its mask)");
    return s;
  }

 private:
  const Entry& at(int64_t i) const {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return entries_[static_cast<size_t>(i)];
  }
  std::string source_;
  std::vector<Entry> entries_;
};

}  // namespace

std::shared_ptr<const Image> read_sample_image(const std::string& path, const std::string& what) {
  try {
    return std::make_shared<const Image>(read_image(path));
  } catch (const Error& e) {
    throw Error(str_cat(what, ": ", e.what()));
  }
}

std::unique_ptr<Dataset> open_image_folder(const DatasetOptions& o) {
  XAI_CHECK(!o.path.empty(),
            "image_folder: no path given (HINT: dataset.path: a folder with one "
            "subfolder of images per class)");
  XAI_CHECK(fs::is_directory(o.path), o.path,
            ": not a folder (image_folder reads <path>/<class>/"
            "<image>)");
  std::vector<fs::path> classes;
  for (const auto& d : fs::directory_iterator(o.path)) {
    if (d.is_directory()) classes.push_back(d.path());
  }
  std::sort(classes.begin(), classes.end());
  std::vector<Entry> entries;
  for (const fs::path& c : classes) {
    std::vector<fs::path> files;
    for (const auto& f : fs::directory_iterator(c)) {
      if (f.is_regular_file() && is_image(f.path())) files.push_back(f.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      if (o.limit > 0 && static_cast<int64_t>(entries.size()) >= o.limit) break;
      Entry e;
      e.label = c.filename().string();
      e.id = e.label + "/" + f.stem().string();
      e.image = f.string();
      const fs::path mask = f.parent_path() / (f.stem().string() + ".mask.png");
      if (fs::exists(mask)) e.mask = mask.string();
      entries.push_back(std::move(e));
    }
  }
  XAI_CHECK(!entries.empty(), o.path,
            ": no images found (image_folder reads <path>/<class>/"
            "<name>.png|.jpg|.jpeg)");
  return std::make_unique<ImageFolder>(o.path, std::move(entries));
}

}  // namespace xai
