// framework/image against Pillow, transformers' image processors and OpenCV
// (tests/reference/image_fixtures.py): decoding PNG and JPEG, preprocessing with every Pillow
// filter, shortest-edge resize and center crop, masks on a patch grid; and bad images.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "framework/common/error.h"
#include "framework/image/image.h"
#include "framework/image/image_processor.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

nlohmann::json cases() {
  std::ifstream in(fixture("images/cases.json"));
  return nlohmann::json::parse(in);
}

std::shared_ptr<const SafetensorsFile> reference() {
  return SafetensorsFile::open(fixture("images/reference.safetensors"));
}

at::Tensor as_tensor(const Image& im) {
  return at::from_blob(const_cast<uint8_t*>(im.data.data()), {im.height, im.width, im.channels},
                       at::kByte)
      .clone();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ImageDecode, MatchesPillowForEveryFixture) {
  const auto ref = reference();
  const nlohmann::json c = cases();
  ASSERT_GE(c["images"].size(), 7u);
  for (const auto& name : c["images"]) {
    const Image im = to_rgb(read_image(fixture("images/" + name.get<std::string>())));
    const at::Tensor want = ref->get("decoded/" + name.get<std::string>());
    ASSERT_EQ(as_tensor(im).sizes(), want.sizes()) << name;
    EXPECT_TRUE(at::equal(as_tensor(im), want)) << name << ": pixels differ from Pillow's";
  }
}

TEST(ImageDecode, KeepsChannelsUntilConverted) {
  EXPECT_EQ(read_image(fixture("images/gray.png")).channels, 1);
  EXPECT_EQ(read_image(fixture("images/gray.jpg")).channels, 1);
  EXPECT_EQ(read_image(fixture("images/rgba.png")).channels, 4);
  EXPECT_EQ(read_image(fixture("images/palette.png")).channels, 3);
  const Image rgb = read_image(fixture("images/rgb.png"));
  EXPECT_EQ(rgb.width, 37);
  EXPECT_EQ(rgb.height, 29);
}

TEST(ImageProcessorTest, MatchesTransformersForEveryProcessorAndImage) {
  const auto ref = reference();
  const nlohmann::json c = cases();
  ASSERT_GE(c["processors"].size(), 9u);
  double worst = 0;
  for (const auto& pname : c["processors"]) {
    const ImageProcessor proc = ImageProcessor::from_file(
        fixture("images/processors/" + pname.get<std::string>() + ".json"));
    for (const auto& name : c["images"]) {
      const std::string key = "pixels/" + name.get<std::string>() + "/" + pname.get<std::string>();
      const Image im = read_image(fixture("images/" + name.get<std::string>()));
      const std::vector<float> px = proc.preprocess(im, name);
      const at::Tensor want = ref->get(key);
      ASSERT_EQ(static_cast<int64_t>(px.size()), want.numel()) << key;
      const at::Tensor got = at::tensor(px).view(want.sizes());
      const double d = (got - want).abs().max().item<double>();
      worst = std::max(worst, d);
      EXPECT_LT(d, 1e-5) << key;
    }
  }
  // Float rounding only: Pillow's integer resampling is reproduced exactly.
  EXPECT_LT(worst, 1e-6);
}

TEST(ImageProcessorTest, ReadsTransformersDefaultsAndDescribesThem) {
  const ImageProcessor clip =
      ImageProcessor::from_file(fixture("images/processors/clip_20_crop_16.json"));
  EXPECT_EQ(clip.config().shortest_edge, 20);
  EXPECT_EQ(clip.config().resample, Resample::kBicubic);
  EXPECT_EQ(clip.out_height(), 16);
  EXPECT_EQ(clip.resized_size(29, 37), std::make_pair(int64_t{20}, int64_t{25}));
  EXPECT_NE(clip.describe().find("center crop 16x16"), std::string::npos) << clip.describe();
  // An old-style file: size as one integer (square for ViT), no resample (bilinear).
  const ImageProcessor old = ImageProcessor::from_json_text(
      R"({"feature_extractor_type": "ViTFeatureExtractor", "size": 32})", "old.json");
  EXPECT_EQ(old.out_height(), 32);
  EXPECT_EQ(old.out_width(), 32);
  EXPECT_EQ(old.config().resample, Resample::kBilinear);
  // to_json round-trips.
  const ImageProcessor again = ImageProcessor::from_json_text(clip.to_json(), "again.json");
  EXPECT_EQ(again.describe(), clip.describe());
}

TEST(ImageProcessorTest, BadConfigsNameTheFileAndField) {
  auto message = [](const std::string& text) {
    try {
      ImageProcessor::from_json_text(text, "p.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"resample": 9})").find("p.json: resample must be one of"),
            std::string::npos);
  EXPECT_NE(message(R"({"size": {"height": 0, "width": 4}})").find("p.json: size.height must be"),
            std::string::npos);
  EXPECT_NE(message(R"({"image_mean": [0.5, 0.5]})").find("p.json: image_mean must be a list of 3"),
            std::string::npos);
  EXPECT_NE(message(R"({"image_std": [0.5, 0, 0.5]})").find("must not contain 0"),
            std::string::npos);
  EXPECT_NE(message("{").find("p.json: not valid JSON"), std::string::npos);
  EXPECT_THROW(ImageProcessor::from_file(fixture("images/none.json")), Error);
}

TEST(ImageProcessorTest, CropLargerThanTheImageIsRefused) {
  const ImageProcessor p = ImageProcessor::from_json_text(
      R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 8},
          "crop_size": {"height": 12, "width": 8}})",
      "p.json");
  Image im;
  im.width = im.height = 20;
  im.channels = 3;
  im.data.assign(20 * 20 * 3, 100);
  try {
    p.preprocess(im, "a.png");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.png: the 8x8 resized image is smaller than the 12x8"),
              std::string::npos)
        << e.what();
  }
}

TEST(ImageProcessorTest, MaskOnTheGridMatchesOpenCv) {
  const auto ref = reference();
  const nlohmann::json c = cases();
  ASSERT_GE(c["masks"].size(), 6u);
  const ImageProcessor p = ImageProcessor::from_json_text(R"({"size": 40})", "p.json");
  for (const auto& m : c["masks"]) {
    const Image mask = read_image(fixture("images/" + m["mask"].get<std::string>()));
    const int64_t g = m["grid"].get<int64_t>();
    // A 40x40 input in 40/g-pixel patches is a g x g grid without a crop: cv2.resize exactly.
    if (40 % g != 0) continue;
    const std::vector<float> got = p.mask_on_grid(mask, mask.height, mask.width, 40 / g, "m");
    const at::Tensor want =
        ref->get("mask/" + m["mask"].get<std::string>() + "/" + std::to_string(g));
    ASSERT_EQ(static_cast<int64_t>(got.size()), want.numel());
    EXPECT_LT((at::tensor(got).view(want.sizes()) - want).abs().max().item<double>(), 1e-6)
        << m.dump();
  }
  Image wrong;
  wrong.width = wrong.height = 3;
  wrong.channels = 1;
  wrong.data.assign(9, 0);
  EXPECT_THROW(p.mask_on_grid(wrong, 29, 37, 10, "m"), Error);
}

TEST(ImageProcessorTest, MaskFollowsTheCenterCrop) {
  // A mask that is 255 on the left half: after a centre crop of the middle columns, the grid's
  // left column stays inside the mask and its right column outside.
  Image mask;
  mask.width = 40;
  mask.height = 20;
  mask.channels = 1;
  mask.data.assign(800, 0);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) mask.data[static_cast<size_t>(y * 40 + x)] = 255;
  const ImageProcessor p = ImageProcessor::from_json_text(
      R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 20},
          "crop_size": {"height": 20, "width": 20}})",
      "p.json");
  const std::vector<float> g = p.mask_on_grid(mask, 20, 40, 10, "m");
  ASSERT_EQ(g.size(), 4u);
  EXPECT_FLOAT_EQ(g[0], 1.0f);
  EXPECT_FLOAT_EQ(g[1], 0.0f);
  EXPECT_FLOAT_EQ(g[2], 1.0f);
  EXPECT_FLOAT_EQ(g[3], 0.0f);
}

TEST(ImageDecode, BadImagesAreOneLineErrorsNamingTheFile) {
  test::TempDir dir;
  auto message = [&](const std::string& name, const std::string& bytes) {
    test::write_file(dir.file(name), bytes);
    try {
      read_image(dir.file(name));
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_NE(m.find(dir.file(name)), std::string::npos) << m;
      return m;
    }
    return std::string("no error");
  };
  const std::string png = read_bytes(fixture("images/rgb.png"));
  const std::string jpg = read_bytes(fixture("images/photo.jpg"));
  EXPECT_NE(message("empty.png", "").find("empty file"), std::string::npos);
  EXPECT_NE(message("text.png", "hello, not an image").find("not a PNG or JPEG"),
            std::string::npos);
  EXPECT_NE(message("cut.png", png.substr(0, png.size() / 2)).find("truncated PNG"),
            std::string::npos);
  EXPECT_NE(message("cut.jpg", jpg.substr(0, jpg.size() / 2)).find("truncated JPEG"),
            std::string::npos);
  EXPECT_NE(message("header.jpg", jpg.substr(0, 20)).find("JPEG"), std::string::npos);
  // A corrupted PNG header (the IHDR CRC no longer matches).
  std::string bad = png;
  bad[20] = static_cast<char>(bad[20] ^ 0x5a);
  EXPECT_NE(message("crc.png", bad).find("cannot decode this PNG"), std::string::npos);
  // Zero width: IHDR says 0 (libpng refuses it).
  std::string zero = png;
  zero[16] = zero[17] = zero[18] = zero[19] = 0;
  EXPECT_NE(message("zero.png", zero).find("PNG"), std::string::npos);
  EXPECT_THROW(read_image(dir.file("missing.png")), Error);
}

TEST(ImageEncode, PngRoundTrips) {
  test::TempDir dir;
  for (int64_t c : {1, 3, 4}) {
    Image im;
    im.width = 7;
    im.height = 5;
    im.channels = c;
    for (int64_t i = 0; i < 7 * 5 * c; ++i) im.data.push_back(static_cast<uint8_t>(i * 37 % 256));
    write_png(dir.file("a.png"), im);
    const Image back = read_image(dir.file("a.png"));
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.data, im.data);
  }
  EXPECT_THROW(write_png(dir.path() + "/no/such/dir/a.png", read_image(fixture("images/rgb.png"))),
               Error);
}

TEST(ImageConvert, GrayUsesPillowsLuma) {
  Image rgb;
  rgb.width = 3;
  rgb.height = 1;
  rgb.channels = 3;
  rgb.data = {255, 0, 0, 0, 255, 0, 10, 200, 30};
  const Image g = to_gray(rgb);
  // Pillow: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
  EXPECT_EQ(g.data, (std::vector<uint8_t>{76, 150, 124}));  // as Pillow gives
}

}  // namespace
}  // namespace xai
