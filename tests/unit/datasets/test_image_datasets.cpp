// Image datasets and image samples: the toy shapes task (deterministic, the mask is the shape, the
// class balanced), image folders and JSONL image lines (relative paths, masks, a bad file fails
// its sample alone, naming line and file), and how an image sample is encoded (the patch view,
// the mask on the patch grid as evidence, the errors when sample and model do not match).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "datasets/dataset.h"
#include "datasets/toy/toy_shapes.h"
#include "framework/config/config.h"
#include "framework/image/image.h"
#include "framework/image/image_sample.h"
#include "framework/text/sample_encoder.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;

TEST(ToyShapes, DeterministicBalancedAndTheMaskIsTheShape) {
  toy::ToyShapeOptions o;
  o.n = 200;
  const std::vector<Sample> a = toy::generate_toy_shapes(o);
  ASSERT_EQ(a.size(), 200u);
  std::map<std::string, int> per_class;
  for (size_t i = 0; i < a.size(); ++i) {
    const Sample& s = a[i];
    const Sample again = toy::toy_shape_sample(o, static_cast<int64_t>(i));
    EXPECT_EQ(s.image->data, again.image->data);
    EXPECT_EQ(s.mask->data, again.mask->data);
    ASSERT_EQ(s.image->width, 32);
    ASSERT_EQ(s.image->channels, 3);
    ASSERT_EQ(s.mask->channels, 1);
    ++per_class[s.label];
    // The mask covers a real part of the image, and the shape is brighter than its background
    // on average (a bright colour on dark noise).
    double in = 0, out = 0;
    int64_t n_in = 0;
    for (int64_t p = 0; p < 32 * 32; ++p) {
      const bool m = s.mask->data[static_cast<size_t>(p)] == 255;
      double lum = 0;
      for (int c = 0; c < 3; ++c) lum += s.image->data[static_cast<size_t>(p * 3 + c)];
      (m ? in : out) += lum;
      n_in += m;
    }
    ASSERT_GT(n_in, 20) << s.id;
    ASSERT_LT(n_in, 32 * 32 / 2) << s.id;
    EXPECT_GT(in / n_in, out / (32 * 32 - n_in) + 100) << s.id;
  }
  EXPECT_EQ(per_class.size(), 4u);
  for (const auto& [label, n] : per_class) EXPECT_GT(n, 30) << label;
  // The splits are different streams.
  o.split = "train";
  EXPECT_NE(toy::toy_shape_sample(o, 0).image->data, a[0].image->data);
  EXPECT_EQ(a[7].id, "toy-shape-test-00007");
}

TEST(ToyShapes, OpensAsADatasetWithItsImageSize) {
  Config c = Config::parse("{type: toy_shapes, limit: 5, image_size: 48}", "t.yaml");
  auto d = open_dataset(c.root());
  c.finish_all();
  ASSERT_EQ(d->size(), 5);
  EXPECT_EQ(d->id(3), "toy-shape-test-00003");
  EXPECT_EQ(d->get(3).image->width, 48);
  expect_error(
      [] {
        Config bad = Config::parse("{type: toy_shapes, image_size: 8}", "t.yaml");
        open_dataset(bad.root());
      },
      {"t.yaml:1", "image_size", "16 to 1024"});
}

// Writes n toy shapes as an image folder (<label>/<id>.png, .mask.png) and a JSONL index.
void write_shapes(const std::string& dir, int n) {
  toy::ToyShapeOptions o;
  o.n = n;
  std::string index;
  for (const Sample& s : toy::generate_toy_shapes(o)) {
    std::filesystem::create_directories(dir + "/" + s.label);
    write_png(dir + "/" + s.label + "/" + s.id + ".png", *s.image);
    write_png(dir + "/" + s.label + "/" + s.id + ".mask.png", *s.mask);
    index += "{\"id\": \"" + s.id + "\", \"image\": \"" + s.label + "/" + s.id +
             ".png\", \"label\": \"" + s.label + "\", \"mask\": \"" + s.label + "/" + s.id +
             ".mask.png\"}\n";
  }
  test::write_file(dir + "/index.jsonl", index);
}

TEST(ImageDatasets, FolderAndJsonlIndexReadTheSameImages) {
  TempDir dir;
  write_shapes(dir.path(), 8);
  DatasetOptions fo;
  fo.path = dir.path();
  auto folder = open_dataset("image_folder", fo);
  DatasetOptions jo;
  jo.path = dir.file("index.jsonl");
  auto jsonl = open_dataset("jsonl", jo);
  ASSERT_EQ(folder->size(), 8);
  ASSERT_EQ(jsonl->size(), 8);
  toy::ToyShapeOptions o;
  std::map<std::string, Sample> by_id;
  for (int64_t i = 0; i < 8; ++i) by_id[jsonl->id(i)] = jsonl->get(i);
  for (int64_t i = 0; i < 8; ++i) {
    const Sample f = folder->get(i);
    // Folder ids are "<class>/<file stem>", sorted by class.
    const std::string stem = f.id.substr(f.id.find('/') + 1);
    ASSERT_TRUE(by_id.count(stem)) << f.id;
    const Sample& j = by_id[stem];
    EXPECT_EQ(f.label, j.label);
    EXPECT_EQ(f.id, f.label + "/" + stem);
    ASSERT_TRUE(f.mask && j.mask);
    EXPECT_EQ(f.image->data, j.image->data);
    EXPECT_EQ(f.mask->data, j.mask->data);
    const Sample original = toy::toy_shape_sample(o, std::stoll(stem.substr(stem.size() - 5)));
    EXPECT_EQ(f.image->data, original.image->data) << "PNG round trip";
  }
  if (folder->size() > 1) {
    EXPECT_LE(folder->get(0).label, folder->get(folder->size() - 1).label);
  }
}

TEST(ImageDatasets, ABadImageFailsItsSampleAloneNamingLineAndFile) {
  TempDir dir;
  write_shapes(dir.path(), 2);
  test::write_file(dir.file("cut.png"), "\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
  test::write_file(dir.file("index.jsonl"),
                   "{\"image\": \"cut.png\", \"label\": \"circle\"}\n"
                   "{\"image\": \"missing.png\", \"label\": \"circle\"}\n"
                   "{\"image\": \"cut.png\"}\n"
                   "{\"image\": \"cut.png\", \"label\": \"circle\", \"prompt\": \"x\"}\n");
  DatasetOptions o;
  o.path = dir.file("index.jsonl");
  auto d = open_dataset("jsonl", o);
  ASSERT_EQ(d->size(), 4);
  expect_error([&] { d->get(0); }, {"index.jsonl:1: sample 'index-1'", "cut.png", "PNG"});
  expect_error([&] { d->get(1); }, {"index.jsonl:2", "missing.png: cannot open the image file"});
  expect_error([&] { d->get(2); }, {"index.jsonl:3", "'label'"});
  expect_error([&] { d->get(3); }, {"index.jsonl:4", "an image line has no 'prompt'"});
  DatasetOptions empty;
  empty.path = dir.file("nothing");
  std::filesystem::create_directories(empty.path);
  expect_error([&] { open_dataset("image_folder", empty); }, {"nothing: no images found"});
}

ImageProcessor processor32() {
  ImageProcessorConfig c;
  c.height = c.width = 32;
  return ImageProcessor(c);
}

TEST(ImageSamples, EncodeToThePatchViewWithTheMaskAsEvidence) {
  toy::ToyShapeOptions o;
  const Sample s = toy::toy_shape_sample(o, 3);
  const std::vector<std::string> labels = toy::toy_shape_labels();
  const ImageProcessor p = processor32();
  const Encoded e = encode_image_sample(s, p, {32, 4}, labels);
  ASSERT_EQ(e.size(), 65);
  EXPECT_TRUE(e.image());
  EXPECT_EQ(e.pixel_shape, (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(e.readout, 0);
  EXPECT_EQ(labels[static_cast<size_t>(e.target_ids[0])], s.label);
  EXPECT_EQ(e.explain_mask[0], 0);
  EXPECT_EQ(e.tokens[0], "[CLS]");
  EXPECT_EQ(e.tokens[10], "patch 1,1");
  // Pixel (0, 0) of channel 0: (u / 255 - 0.5) / 0.5.
  EXPECT_FLOAT_EQ((*e.pixels)[0], (s.image->data[0] / 255.0f - 0.5f) / 0.5f);
  // The evidence is the mask sampled at each 4x4 patch's centre (between pixels 1 and 2 of it).
  ASSERT_EQ(e.evidence_mask.size(), 65u);
  EXPECT_EQ(e.evidence_mask[0], 0.0f);
  double covered = 0;
  for (int64_t t = 1; t < 65; ++t) {
    const int64_t r = (t - 1) / 8, c = (t - 1) % 8;
    double want = 0;
    for (int dy = 1; dy <= 2; ++dy)
      for (int dx = 1; dx <= 2; ++dx) want += s.mask->at(r * 4 + dy, c * 4 + dx, 0) / 255.0 / 4;
    EXPECT_NEAR(e.evidence_mask[static_cast<size_t>(t)], want, 1e-6) << t;
    covered += e.evidence_mask[static_cast<size_t>(t)];
  }
  EXPECT_GT(covered, 1.0);
  // At the model's own size the pixel-level evidence is the mask itself (pixel centres map onto
  // pixel centres).
  ASSERT_EQ(e.evidence_pixels.size(), 32u * 32u);
  for (size_t i = 0; i < e.evidence_pixels.size(); ++i) {
    ASSERT_FLOAT_EQ(e.evidence_pixels[i], s.mask->data[i] / 255.0f) << i;
  }
}

TEST(ImageSamples, MismatchesAreOneLineErrors) {
  toy::ToyShapeOptions o;
  Sample s = toy::toy_shape_sample(o, 0);
  const std::vector<std::string> labels = toy::toy_shape_labels();
  const ImageProcessor p = processor32();
  expect_error(
      [&] {
        encode_image_sample(s, p, {64, 8}, labels);
      },
      {"toy-shape-test-00000", "1024 pixels per channel, the model takes 64x64"});
  expect_error([&] { encode_image_sample(s, p, {32, 4}, {}); }, {"no classification head"});
  Sample unlabelled = s;
  unlabelled.label = "hexagon";
  expect_error(
      [&] {
        encode_image_sample(unlabelled, p, {32, 4}, labels);
      },
      {"label 'hexagon' is not a class", "circle, square, triangle, cross"});
  Sample text;
  text.id = "t";
  text.prompt = "hello";
  text.label = "circle";
  expect_error(
      [&] {
        encode_image_sample(text, p, {32, 4}, labels);
      },
      {"sample 't' has no image", "image classifier"});
  const SampleEncoder words(
      Tokenizer::from_file(test::fixture("tokenizers/word_level/tokenizer.json")));
  expect_error([&] { words.encode(s, 0, {}); }, {"is an image", "the model reads text"});
  const SampleEncoder images(p, {32, 4});
  EXPECT_EQ(images.encode(s, 0, labels).size(), 65);
  expect_error([&] { images.tokenizer(); }, {"no tokenizer"});
}

}  // namespace
}  // namespace xai
