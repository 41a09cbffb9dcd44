// The RAII layer over the HDF5 C API: appends, reads, attributes, compression, error messages.
#include "framework/io/hdf5.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/common/error.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;

TEST(Hdf5, AppendsAndReadsRowsOf1DAnd2DDatasets) {
  TempDir dir;
  const std::string path = dir.file("a.h5");
  {
    h5::File f = h5::File::create(path);
    h5::Group g = f.root().create_group("g");
    h5::Dataset v = g.create_dataset<float>("v", {1, 4, 4, true});
    v.append(std::vector<float>{1, 2, 3});
    v.append(std::vector<float>{4, 5, 6, 7, 8, 9});  // crosses chunk boundaries
    h5::ChunkSpec pairs;
    pairs.row_width = 2;
    pairs.chunk_rows = 3;
    h5::Dataset p = g.create_dataset<int64_t>("pairs", pairs);
    p.append(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
    f.close();
  }
  h5::File f = h5::File::open(path, h5::Access::kReadOnly);
  h5::Group g = f.root().open_group("g");
  h5::Dataset v = g.open_dataset("v");
  EXPECT_EQ(v.rows(), 9);
  EXPECT_EQ(v.read_all<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  std::vector<float> mid(3);
  v.read_rows(2, 3, mid.data());
  EXPECT_EQ(mid, (std::vector<float>{3, 4, 5}));
  h5::Dataset p = g.open_dataset("pairs");
  EXPECT_EQ(p.rows(), 4);
  EXPECT_EQ(p.row_width(), 2);
  std::vector<int64_t> row(2);
  p.read_rows(3, 1, row.data());
  EXPECT_EQ(row, (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(f.root().children(), std::vector<std::string>{"g"});
  EXPECT_TRUE(f.root().has("g/pairs"));
  EXPECT_FALSE(f.root().has("g/nope/deeper"));
  EXPECT_TRUE(f.root().is_group("g"));
  EXPECT_FALSE(f.root().is_group("g/v"));
}

TEST(Hdf5, AttributesRoundTripIncludingEmptyAndLargeStrings) {
  TempDir dir;
  const std::string path = dir.file("a.h5");
  const std::string big(200 * 1024, 'x');  // over the 64 KiB compact attribute limit
  {
    h5::File f = h5::File::create(path);
    h5::Group root = f.root();
    root.set_attr("name", std::string("toy_gpt2 \xc3\xa9"));
    root.set_attr("empty", std::string());
    root.set_attr("big", big);
    root.set_attr("version", int64_t{7});
    root.set_attr("version", int64_t{8});  // replaces
    f.close();
  }
  h5::File f = h5::File::open(path, h5::Access::kReadOnly);
  h5::Group root = f.root();
  EXPECT_EQ(root.string_attr("name"), "toy_gpt2 \xc3\xa9");
  EXPECT_EQ(root.string_attr("empty"), "");
  EXPECT_EQ(root.string_attr("big"), big);
  EXPECT_EQ(root.int_attr("version"), 8);
  EXPECT_TRUE(root.attr_is_string("name"));
  EXPECT_FALSE(root.attr_is_string("version"));
  EXPECT_EQ(root.attr_names(), (std::vector<std::string>{"big", "empty", "name", "version"}));
}

TEST(Hdf5, DatasetsAreShuffledAndDeflated) {
  TempDir dir;
  h5::File f = h5::File::create(dir.file("a.h5"));
  h5::Dataset d = f.root().create_dataset<float>("v", {});
  std::vector<H5Z_filter_t> filters = d.filters();
  EXPECT_EQ(filters, (std::vector<H5Z_filter_t>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}));
}

TEST(Hdf5, ErrorsNameTheFileAndObjectOnOneLineAndPrintNothing) {
  TempDir dir;
  const std::string path = dir.file("a.h5");
  h5::File f = h5::File::create(path);
  f.root().create_group("models");
  testing::internal::CaptureStderr();
  expect_error([&] { f.root().open_dataset("models/missing"); },
               {"HDF5", "/models/missing", path.c_str()});
  expect_error([&] { f.root().open_group("models").create_group("a/b"); }, {"a/b", "'/'"});
  expect_error([&] { f.root().int_attr("nope"); }, {"nope", path.c_str()});
  expect_error([&] { h5::File::open(dir.file("missing.h5"), h5::Access::kReadOnly); },
               {"missing.h5", "does not exist"});
  test::write_file(dir.file("garbage.h5"), std::string(4096, 'g'));
  expect_error([&] { h5::File::open(dir.file("garbage.h5"), h5::Access::kReadOnly); },
               {"garbage.h5", "signature"});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(Hdf5, ReadingOutsideTheRowsIsAnError) {
  TempDir dir;
  h5::File f = h5::File::create(dir.file("a.h5"));
  h5::Dataset d = f.root().create_dataset<int64_t>("v", {});
  d.append(std::vector<int64_t>{1, 2});
  int64_t out[4];
  expect_error([&] { d.read_rows(1, 4, out); }, {"rows [1, 5)", "/v", "2 rows"});
}

}  // namespace
}  // namespace xai
