// See image_processor.h. The resampling follows Pillow's libImaging/Resample.c: per output pixel a
// window of input pixels weighted by the filter (stretched by the scale when shrinking, which is
// Pillow's antialiasing), the weights normalised to sum 1, turned into 22-bit fixed point, and the
// sums rounded and clipped to 8 bits after the horizontal pass and again after the vertical one.
#include "framework/image/image_processor.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "framework/common/error.h"

namespace xai {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kPi = 3.14159265358979323846;

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= kPi;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= kPi;
  return std::sin(x) / x;
}
double lanczos_filter(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_of(Resample r) {
  switch (r) {
    case Resample::kBox:
      return {box_filter, 0.5};
    case Resample::kBilinear:
      return {bilinear_filter, 1.0};
    case Resample::kHamming:
      return {hamming_filter, 1.0};
    case Resample::kBicubic:
      return {bicubic_filter, 2.0};
    case Resample::kLanczos:
      return {lanczos_filter, 3.0};
    case Resample::kNearest:
      break;
  }
  throw Error("internal: no convolution filter for nearest");
}

// One axis: for each output index its first input index and count, and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size x ksize
};

Coeffs precompute(int in_size, int out_size, const Filter& f) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = f.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = f.fn((x + xmin - center + 0.5) * ss);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double w = k[static_cast<size_t>(x)];
      if (ww != 0.0) w /= ww;
      const double fixed = w * (1 << kPrecisionBits);
      c.weights[static_cast<size_t>(xx) * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[static_cast<size_t>(xx)] = xmin;
    c.count[static_cast<size_t>(xx)] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// Horizontal pass over rows [row0, row0 + rows) of `in`.
Image horizontal(const Image& in, int row0, int rows, int out_w, const Coeffs& c) {
  Image out;
  out.width = out_w;
  out.height = rows;
  out.channels = in.channels;
  out.data.resize(static_cast<size_t>(out_w * rows * in.channels));
  const int64_t C = in.channels;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = in.data.data() + (row0 + y) * in.width * C;
    uint8_t* dst = out.data.data() + y * out_w * C;
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = c.weights.data() + static_cast<size_t>(xx) * c.ksize;
      const int xmin = c.first[static_cast<size_t>(xx)], n = c.count[static_cast<size_t>(xx)];
      for (int64_t ch = 0; ch < C; ++ch) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (int x = 0; x < n; ++x) ss += int64_t{src[(x + xmin) * C + ch]} * k[x];
        dst[xx * C + ch] = clip8(ss);
      }
    }
  }
  return out;
}

Image vertical(const Image& in, int out_h, const Coeffs& c, int row_shift) {
  Image out;
  out.width = in.width;
  out.height = out_h;
  out.channels = in.channels;
  const int64_t C = in.channels, W = in.width;
  out.data.resize(static_cast<size_t>(W * out_h * C));
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = c.weights.data() + static_cast<size_t>(yy) * c.ksize;
    const int ymin = c.first[static_cast<size_t>(yy)] - row_shift;
    const int n = c.count[static_cast<size_t>(yy)];
    uint8_t* dst = out.data.data() + yy * W * C;
    for (int64_t i = 0; i < W * C; ++i) {
      int64_t ss = int64_t{1} << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y)
        ss += int64_t{in.data[static_cast<size_t>((ymin + y) * W * C + i)]} * k[y];
      dst[i] = clip8(ss);
    }
  }
  return out;
}

// Pillow's affine nearest sampling: the source of output x is int(0.5 * s + x * s) accumulated by
// repeated addition, as Geometry.c does.
Image nearest(const Image& in, int64_t out_w, int64_t out_h) {
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = in.channels;
  const int64_t C = in.channels;
  out.data.resize(static_cast<size_t>(out_w * out_h * C));
  const double sx = static_cast<double>(in.width) / out_w,
               sy = static_cast<double>(in.height) / out_h;
  double yy = sy * 0.5;
  for (int64_t y = 0; y < out_h; ++y, yy += sy) {
    const int64_t yin = std::min<int64_t>(static_cast<int64_t>(yy), in.height - 1);
    double xx = sx * 0.5;
    for (int64_t x = 0; x < out_w; ++x, xx += sx) {
      const int64_t xin = std::min<int64_t>(static_cast<int64_t>(xx), in.width - 1);
      for (int64_t ch = 0; ch < C; ++ch) {
        out.data[static_cast<size_t>((y * out_w + x) * C + ch)] = in.at(yin, xin, ch);
      }
    }
  }
  return out;
}

// ---- preprocessor_config.json
// ---------------------------------------------------------------------

using Json = nlohmann::json;

int64_t positive(const Json& j, const std::string& what, const std::string& key) {
  XAI_CHECK(j.is_number_integer() && j.get<int64_t>() > 0, what, ": ", key,
            " must be a positive integer, not ", j.dump());
  return j.get<int64_t>();
}

std::array<double, 3> triple(const Json& j, const std::string& what, const std::string& key) {
  if (j.is_number()) return {j.get<double>(), j.get<double>(), j.get<double>()};
  XAI_CHECK(j.is_array() && j.size() == 3, what, ": ", key,
            " must be a list of 3 numbers (one per RGB channel), not ", j.dump());
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    XAI_CHECK(j[i].is_number(), what, ": ", key, "[", i, "] must be a number, not ", j[i].dump());
    out[i] = j[i].get<double>();
  }
  return out;
}

bool flag(const Json& root, const char* key, bool fallback, const std::string& what) {
  if (!root.contains(key) || root[key].is_null()) return fallback;
  XAI_CHECK(root[key].is_boolean(), what, ": ", key, " must be true or false, not ",
            root[key].dump());
  return root[key].get<bool>();
}

// A size field: an int (square, or the shortest edge when `edge_default`), or a mapping with
// height and width, or shortest_edge.
void read_size(const Json& j, const std::string& what, const std::string& key, bool edge_default,
               int64_t& h, int64_t& w, int64_t* edge) {
  if (j.is_number_integer()) {
    const int64_t n = positive(j, what, key);
    if (edge_default && edge != nullptr) {
      *edge = n;
    } else {
      h = w = n;
    }
    return;
  }
  XAI_CHECK(j.is_object(), what, ": ", key,
            " must be an integer or a mapping {height, width} or {shortest_edge}, not ", j.dump());
  if (j.contains("shortest_edge")) {
    XAI_CHECK(edge != nullptr, what, ": ", key, ": shortest_edge is not supported here");
    XAI_CHECK(!j.contains("longest_edge") || j["longest_edge"].is_null(), what, ": ", key,
              ".longest_edge is not supported (HINT: drop it, or give height and width)");
    *edge = positive(j["shortest_edge"], what, key + ".shortest_edge");
    return;
  }
  XAI_CHECK(j.contains("height") && j.contains("width"), what, ": ", key,
            " needs height and width (or shortest_edge), found ", j.dump());
  h = positive(j["height"], what, key + ".height");
  w = positive(j["width"], what, key + ".width");
}

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

const char* resample_name(Resample r) {
  switch (r) {
    case Resample::kNearest:
      return "nearest";
    case Resample::kLanczos:
      return "lanczos";
    case Resample::kBilinear:
      return "bilinear";
    case Resample::kBicubic:
      return "bicubic";
    case Resample::kBox:
      return "box";
    case Resample::kHamming:
      return "hamming";
  }
  return "?";
}

Image resize_like_pillow(const Image& image, int64_t width, int64_t height, Resample resample) {
  XAI_CHECK(width > 0 && height > 0 && !image.empty(), "internal: resize to ", width, "x", height);
  XAI_CHECK(image.channels == 1 || image.channels == 3, "internal: resize of a ", image.channels,
            "-channel image (Pillow premultiplies alpha; convert first)");
  if (width == image.width && height == image.height) return image;
  if (resample == Resample::kNearest) return nearest(image, width, height);
  const Filter f = filter_of(resample);
  const int in_w = static_cast<int>(image.width), in_h = static_cast<int>(image.height);
  const Coeffs ch = precompute(in_w, static_cast<int>(width), f);
  const Coeffs cv = precompute(in_h, static_cast<int>(height), f);
  const bool need_h = width != image.width, need_v = height != image.height;
  if (!need_h) return vertical(image, static_cast<int>(height), cv, 0);
  // The horizontal pass covers only the rows the vertical pass reads.
  const int first = cv.first.front();
  const int last = cv.first.back() + cv.count.back();
  const Image tmp = horizontal(image, need_v ? first : 0, need_v ? last - first : in_h,
                               static_cast<int>(width), ch);
  if (!need_v) return tmp;
  return vertical(tmp, static_cast<int>(height), cv, first);
}

ImageProcessor::ImageProcessor(ImageProcessorConfig config) : config_(std::move(config)) {}

ImageProcessor ImageProcessor::from_file(const std::string& path) {
  std::ifstream in(path);
  XAI_CHECK(in, path, ": not found (an image model's folder needs its preprocessor_config.json)");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

ImageProcessor ImageProcessor::from_json_text(const std::string& text, const std::string& what) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const std::exception& e) {
    throw Error(str_cat(what, ": not valid JSON: ", e.what()));
  }
  XAI_CHECK(root.is_object(), what, ": must be a JSON object");
  ImageProcessorConfig c;
  if (root.contains("image_processor_type") && root["image_processor_type"].is_string()) {
    c.type = root["image_processor_type"].get<std::string>();
  } else if (root.contains("feature_extractor_type") &&
             root["feature_extractor_type"].is_string()) {
    c.type = root["feature_extractor_type"].get<std::string>();
  }
  const bool clip = c.type.rfind("CLIP", 0) == 0;
  // transformers' defaults differ between the two processors.
  c.do_convert_rgb = flag(root, "do_convert_rgb", true, what);
  c.do_resize = flag(root, "do_resize", true, what);
  c.do_center_crop = flag(root, "do_center_crop", clip, what);
  c.do_rescale = flag(root, "do_rescale", true, what);
  c.do_normalize = flag(root, "do_normalize", true, what);
  if (clip) {
    c.shortest_edge = 224;
    c.resample = Resample::kBicubic;
    c.mean = {0.48145466, 0.4578275, 0.40821073};
    c.std = {0.26862954, 0.26130258, 0.27577711};
  }
  if (root.contains("size") && !root["size"].is_null()) {
    c.shortest_edge = 0;
    read_size(root["size"], what, "size", clip, c.height, c.width, &c.shortest_edge);
  }
  if (root.contains("crop_size") && !root["crop_size"].is_null()) {
    read_size(root["crop_size"], what, "crop_size", false, c.crop_height, c.crop_width, nullptr);
  }
  if (root.contains("resample") && !root["resample"].is_null()) {
    const Json& r = root["resample"];
    XAI_CHECK(r.is_number_integer() && r.get<int64_t>() >= 0 && r.get<int64_t>() <= 5, what,
              ": resample must be one of Pillow's filters 0..5 (0 nearest, 1 lanczos, 2 bilinear, "
              "3 bicubic, 4 box, 5 hamming), not ",
              r.dump());
    c.resample = static_cast<Resample>(r.get<int>());
  }
  if (root.contains("rescale_factor") && !root["rescale_factor"].is_null()) {
    XAI_CHECK(root["rescale_factor"].is_number(), what, ": rescale_factor must be a number");
    c.rescale_factor = root["rescale_factor"].get<double>();
  }
  if (root.contains("image_mean") && !root["image_mean"].is_null()) {
    c.mean = triple(root["image_mean"], what, "image_mean");
  }
  if (root.contains("image_std") && !root["image_std"].is_null()) {
    c.std = triple(root["image_std"], what, "image_std");
  }
  for (double s : c.std) XAI_CHECK(s != 0.0, what, ": image_std must not contain 0");
  return ImageProcessor(c);
}

std::string ImageProcessor::to_json() const {
  const ImageProcessorConfig& c = config_;
  nlohmann::ordered_json j;
  j["image_processor_type"] = c.type;
  j["do_convert_rgb"] = c.do_convert_rgb;
  j["do_resize"] = c.do_resize;
  if (c.shortest_edge > 0) {
    j["size"] = {{"shortest_edge", c.shortest_edge}};
  } else {
    j["size"] = {{"height", c.height}, {"width", c.width}};
  }
  j["resample"] = static_cast<int>(c.resample);
  j["do_center_crop"] = c.do_center_crop;
  if (c.do_center_crop) j["crop_size"] = {{"height", c.crop_height}, {"width", c.crop_width}};
  j["do_rescale"] = c.do_rescale;
  j["rescale_factor"] = c.rescale_factor;
  j["do_normalize"] = c.do_normalize;
  j["image_mean"] = c.mean;
  j["image_std"] = c.std;
  return j.dump(2) + "\n";
}

std::pair<int64_t, int64_t> ImageProcessor::resized_size(int64_t height, int64_t width) const {
  const ImageProcessorConfig& c = config_;
  if (!c.do_resize) return {height, width};
  if (c.shortest_edge <= 0) return {c.height, c.width};
  // transformers' get_resize_output_image_size(default_to_square=False): the long side is
  // int(edge * long / short).
  const bool w_short = width <= height;
  const int64_t s = w_short ? width : height, l = w_short ? height : width;
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(c.shortest_edge) *
                                                static_cast<double>(l) / static_cast<double>(s));
  return w_short ? std::make_pair(new_long, c.shortest_edge)
                 : std::make_pair(c.shortest_edge, new_long);
}

int64_t ImageProcessor::out_height() const {
  if (config_.do_center_crop) return config_.crop_height;
  return config_.shortest_edge > 0 ? -1 : config_.height;
}
int64_t ImageProcessor::out_width() const {
  if (config_.do_center_crop) return config_.crop_width;
  return config_.shortest_edge > 0 ? -1 : config_.width;
}

ImageProcessor::Geometry ImageProcessor::geometry(int64_t height, int64_t width,
                                                  const std::string& what) const {
  const ImageProcessorConfig& c = config_;
  const auto [rh, rw] = resized_size(height, width);
  Geometry g{rh, rw, 0, 0, rh, rw};
  if (c.do_center_crop) {
    XAI_CHECK(c.crop_height <= rh && c.crop_width <= rw, what, ": the ", rh, "x", rw,
              " resized image is smaller than the ", c.crop_height, "x", c.crop_width, " crop (",
              c.type, ")");
    g.top = (rh - c.crop_height) / 2;  // transformers' center_crop
    g.left = (rw - c.crop_width) / 2;
    g.height = c.crop_height;
    g.width = c.crop_width;
  }
  return g;
}

std::vector<float> ImageProcessor::preprocess(const Image& input, const std::string& what) const {
  const ImageProcessorConfig& c = config_;
  XAI_CHECK(!input.empty(), what, ": the image has zero size");
  Image image = to_rgb(input);  // transformers hands Pillow 3-channel arrays either way
  const Geometry g = geometry(image.height, image.width, what);
  if (c.do_resize) image = resize_like_pillow(image, g.resized_width, g.resized_height, c.resample);
  const int64_t top = g.top, left = g.left, H = g.height, W = g.width;
  // transformers: rescale in float64 then to float32, normalise in float32.
  std::vector<float> out(static_cast<size_t>(3 * H * W));
  for (int64_t ch = 0; ch < 3; ++ch) {
    const float mean = static_cast<float>(c.mean[static_cast<size_t>(ch)]);
    const float sd = static_cast<float>(c.std[static_cast<size_t>(ch)]);
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const uint8_t u = image.at(top + y, left + x, ch);
        float v = c.do_rescale ? static_cast<float>(u * c.rescale_factor) : static_cast<float>(u);
        if (c.do_normalize) v = (v - mean) / sd;
        out[static_cast<size_t>((ch * H + y) * W + x)] = v;
      }
    }
  }
  return out;
}

std::vector<float> ImageProcessor::mask_on_grid(const Image& mask_in, int64_t image_height,
                                                int64_t image_width, int64_t patch,
                                                const std::string& what) const {
  XAI_CHECK(mask_in.height == image_height && mask_in.width == image_width, what, ": the mask is ",
            mask_in.width, "x", mask_in.height, " pixels, its image ", image_width, "x",
            image_height, " (a mask must have its image's size)");
  const Image mask = to_gray(mask_in);
  const Geometry geo = geometry(image_height, image_width, what);
  const int64_t rh = geo.resized_height, rw = geo.resized_width;
  const int64_t top = geo.top, left = geo.left, H = geo.height, W = geo.width;
  XAI_CHECK(patch > 0 && H % patch == 0 && W % patch == 0, what, ": the ", H, "x", W,
            " model input does not split into ", patch, "-pixel patches");
  const int64_t gh = H / patch, gw = W / patch;
  // One axis: the source index and weight of a grid coordinate, cv2's clamping at the edges.
  auto axis = [](double src, int64_t size, int64_t& i0, double& f) {
    const double fl = std::floor(src);
    i0 = static_cast<int64_t>(fl);
    f = src - fl;
    if (i0 < 0) {
      i0 = 0;
      f = 0;
    }
    if (i0 >= size - 1) {
      i0 = size - 1;
      f = 0;
    }
  };
  std::vector<float> out(static_cast<size_t>(gh * gw));
  const double sy = static_cast<double>(image_height) / rh,
               sx = static_cast<double>(image_width) / rw;
  for (int64_t gy = 0; gy < gh; ++gy) {
    int64_t y0;
    double fy;
    axis((static_cast<double>(top) + (gy + 0.5) * patch) * sy - 0.5, image_height, y0, fy);
    const int64_t y1 = std::min(y0 + 1, image_height - 1);
    for (int64_t gx = 0; gx < gw; ++gx) {
      int64_t x0;
      double fx;
      axis((static_cast<double>(left) + (gx + 0.5) * patch) * sx - 0.5, image_width, x0, fx);
      const int64_t x1 = std::min(x0 + 1, image_width - 1);
      const double v = (1 - fy) * ((1 - fx) * mask.at(y0, x0, 0) + fx * mask.at(y0, x1, 0)) +
                       fy * ((1 - fx) * mask.at(y1, x0, 0) + fx * mask.at(y1, x1, 0));
      out[static_cast<size_t>(gy * gw + gx)] = static_cast<float>(v / 255.0);
    }
  }
  return out;
}

std::string ImageProcessor::describe() const {
  const ImageProcessorConfig& c = config_;
  std::string s = c.type + ":";
  if (c.do_resize) {
    s += c.shortest_edge > 0 ? str_cat(" resize shortest edge ", c.shortest_edge)
                             : str_cat(" resize ", c.height, "x", c.width);
    s += str_cat(" ", resample_name(c.resample), ",");
  }
  if (c.do_center_crop) s += str_cat(" center crop ", c.crop_height, "x", c.crop_width, ",");
  if (c.do_rescale) s += str_cat(" rescale ", fmt(c.rescale_factor), ",");
  if (c.do_normalize) {
    s += str_cat(" normalise mean [", fmt(c.mean[0]), ", ", fmt(c.mean[1]), ", ", fmt(c.mean[2]),
                 "] std [", fmt(c.std[0]), ", ", fmt(c.std[1]), ", ", fmt(c.std[2]), "]");
  }
  if (!s.empty() && s.back() == ',') s.pop_back();
  return s;
}

}  // namespace xai
