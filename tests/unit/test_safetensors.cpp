#include <ATen/ATen.h>

#include "framework/tensor_io/checkpoint.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;
using test::write_file;

// A safetensors file from a header JSON text and a data buffer, for malformed-input tests.
std::string raw_safetensors(const std::string& header, const std::string& data,
                            uint64_t declared_len = UINT64_MAX) {
  uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 5})},
      {"f64", at::randn({2, 2}, at::kDouble)},
      {"f16", at::randn({4}).to(at::kHalf)},
      {"bf16", at::randn({2, 3}).to(at::kBFloat16)},
      {"i64", at::arange(7, at::kLong)},
      {"i32", at::arange(6, at::kInt).view({2, 3})},
      {"u8", at::arange(5, at::kByte)},
      {"bool", at::tensor({1, 0, 1}, at::kLong).to(at::kBool)},
      {"scalar", at::tensor(3.5f)},
      {"empty", at::zeros({0, 4})},
      {"strided", at::randn({4, 6}).t()},  // non-contiguous input is written contiguous
  };
  write_safetensors(path, tensors, {{"format", "pt"}});
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    at::Tensor got = f->get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(got, t)) << name;
  }
}

TEST(Safetensors, Float32TensorsAreViewsOfTheMapping) {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  write_safetensors(path, {{"w", at::randn({64, 64})}});
  auto f = SafetensorsFile::open(path);
  at::Tensor a = f->get("w");
  at::Tensor b = f->get("w");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // no copy: both view the same mapped bytes
  // Writing to a view must not change the file (private mapping).
  a.zero_();
  EXPECT_FALSE(at::equal(SafetensorsFile::open(path)->get("w"), a));
}

TEST(Safetensors, TensorOutlivesTheFileObject) {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  at::Tensor ref = at::randn({10});
  write_safetensors(path, {{"w", ref}});
  at::Tensor t = SafetensorsFile::open(path)->get("w");  // file object destroyed here
  EXPECT_TRUE(at::equal(t, ref));
}

TEST(Safetensors, RejectsTruncatedFile) {
  TempDir dir;
  write_file(dir.file("t.safetensors"), "abc");
  expect_error([&] { SafetensorsFile::open(dir.file("t.safetensors")); },
               {"t.safetensors", "truncated"});
}

TEST(Safetensors, RejectsHeaderLengthPastEndOfFile) {
  TempDir dir;
  write_file(dir.file("h.safetensors"), raw_safetensors("{}", "", 4096));
  expect_error([&] { SafetensorsFile::open(dir.file("h.safetensors")); },
               {"h.safetensors", "header length 4096", "past the end"});
}

TEST(Safetensors, RejectsMalformedHeaderJson) {
  TempDir dir;
  write_file(dir.file("j.safetensors"), raw_safetensors("{\"a\": [1, 2", ""));
  expect_error([&] { SafetensorsFile::open(dir.file("j.safetensors")); },
               {"j.safetensors", "malformed header JSON"});
}

TEST(Safetensors, RejectsUnsupportedDtype) {
  TempDir dir;
  write_file(dir.file("d.safetensors"),
             raw_safetensors(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})",
                             std::string(2, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("d.safetensors")); },
               {"d.safetensors", "'w'", "unsupported dtype 'F8_E4M3'"});
}

TEST(Safetensors, RejectsOffsetsOutOfBounds) {
  TempDir dir;
  write_file(dir.file("o.safetensors"),
             raw_safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                             std::string(8, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("o.safetensors")); },
               {"o.safetensors", "'w'", "past the end of the data"});
}

TEST(Safetensors, RejectsOverlappingOffsets) {
  TempDir dir;
  write_file(dir.file("v.safetensors"),
             raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             std::string(12, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("v.safetensors")); },
               {"v.safetensors", "'a'", "'b'", "overlap"});
}

TEST(Safetensors, RejectsSizeThatDisagreesWithShape) {
  TempDir dir;
  write_file(dir.file("s.safetensors"),
             raw_safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                             std::string(8, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("s.safetensors")); },
               {"s.safetensors", "'w'", "needs 12"});
}

TEST(Safetensors, RejectsReversedOffsetsAndBadEntries) {
  TempDir dir;
  write_file(dir.file("r.safetensors"),
             raw_safetensors(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                             std::string(8, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("r.safetensors")); }, {"reversed"});
  write_file(dir.file("m.safetensors"), raw_safetensors(R"({"w":{"dtype":"F32"}})", ""));
  expect_error([&] { SafetensorsFile::open(dir.file("m.safetensors")); }, {"'w'", "shape"});
}

// A header length a few bytes short still leaves valid JSON when the writer padded the header:
// the data would start early and every weight would load shifted. The coverage check refuses it.
TEST(Safetensors, RejectsAHeaderLengthThatIsAFewBytesOff) {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  write_safetensors(good, {{"a", at::randn({3})}, {"b", at::randn({2, 2})}});
  const std::string bytes = test::read_file(good);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  for (uint64_t delta : {1, 2, 4, 7}) {
    if (delta > n) continue;
    std::string bad = bytes;
    const uint64_t m = n - delta;
    for (int i = 0; i < 8; ++i) bad[i] = static_cast<char>((m >> (8 * i)) & 0xff);
    const std::string path = dir.file("short" + std::to_string(delta) + ".safetensors");
    write_file(path, bad);
    expect_error([&] { SafetensorsFile::open(path); }, {path.c_str()});
  }
  // The same file with its header length intact opens.
  EXPECT_EQ(SafetensorsFile::open(good)->tensors().size(), 2u);
}

TEST(Safetensors, RejectsBytesThatBelongToNoTensor) {
  TempDir dir;
  // A gap between two tensors.
  write_file(dir.file("gap.safetensors"),
             raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                             std::string(12, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("gap.safetensors")); },
               {"gap.safetensors", "'b' starts at byte 8", "('a') ends at 4",
                "4 bytes belong to no tensor"});
  // Nothing at the start of the buffer.
  write_file(dir.file("lead.safetensors"),
             raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             std::string(8, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("lead.safetensors")); },
               {"lead.safetensors", "no tensor starts at byte 0"});
  // Bytes left over after the last tensor.
  write_file(dir.file("tail.safetensors"),
             raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                             std::string(9, '\0')));
  expect_error([&] { SafetensorsFile::open(dir.file("tail.safetensors")); },
               {"tail.safetensors", "cover 4 bytes", "holds 9", "5 bytes belong to no tensor"});
  // A file of metadata only holds no data at all.
  write_file(dir.file("meta.safetensors"), raw_safetensors(R"({"__metadata__":{"a":"b"}})", "x"));
  expect_error([&] { SafetensorsFile::open(dir.file("meta.safetensors")); },
               {"cover 0 bytes", "holds 1"});
  write_file(dir.file("meta_ok.safetensors"), raw_safetensors(R"({"__metadata__":{"a":"b"}})", ""));
  EXPECT_EQ(SafetensorsFile::open(dir.file("meta_ok.safetensors"))->metadata().at("a"), "b");
}

TEST(Safetensors, TheHeaderIsUtf8JsonPaddedWithSpacesOnly) {
  TempDir dir;
  const std::string entry = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  write_file(dir.file("pad.safetensors"), raw_safetensors(entry + "     ", "xy"));
  EXPECT_EQ(SafetensorsFile::open(dir.file("pad.safetensors"))->tensors().size(), 1u);
  write_file(dir.file("nl.safetensors"), raw_safetensors(entry + "\n", "xy"));
  expect_error([&] { SafetensorsFile::open(dir.file("nl.safetensors")); },
               {"nl.safetensors", "does not end with '}'"});
  write_file(dir.file("lead.safetensors"), raw_safetensors(" " + entry, "xy"));
  expect_error([&] { SafetensorsFile::open(dir.file("lead.safetensors")); },
               {"lead.safetensors", "does not start with '{'"});
  write_file(dir.file("utf8.safetensors"),
             raw_safetensors("{\"__metadata__\":{\"k\":\"\xff\xfe\"}," + entry.substr(1), "xy"));
  expect_error([&] { SafetensorsFile::open(dir.file("utf8.safetensors")); },
               {"utf8.safetensors", "not valid UTF-8"});
}

TEST(Safetensors, MissingFileNamesThePath) {
  expect_error([] { SafetensorsFile::open("/nonexistent/x.safetensors"); },
               {"/nonexistent/x.safetensors", "cannot open"});
}

// ---- sharded checkpoints
// ---------------------------------------------------------------------------

void write_two_shards(const TempDir& dir, at::Tensor a, at::Tensor b) {
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"a", a}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {{"b", b}});
  write_file(
      dir.file("model.safetensors.index.json"),
      R"({"metadata": {"total_size": 0}, "weight_map": {)"
      R"("a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
}

TEST(Checkpoint, ReadsShardsThroughTheIndex) {
  TempDir dir;
  at::Tensor a = at::randn({3, 4}), b = at::randn({5});
  write_two_shards(dir, a, b);
  Checkpoint ck = Checkpoint::open(dir.path());
  EXPECT_TRUE(ck.sharded());
  EXPECT_EQ(ck.files().size(), 2u);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(ck.get("a"), a));
  EXPECT_TRUE(at::equal(ck.get("b"), b));
  EXPECT_TRUE(at::equal(ck.get_slice("a", 0, 1, 2), a.narrow(0, 1, 2)));
  EXPECT_TRUE(at::equal(ck.get_slice("a", 1, 2, 2), a.narrow(1, 2, 2)));
  expect_error([&] { ck.get_slice("a", 0, 2, 5); }, {"outside tensor 'a'"});
  expect_error([&] { ck.get("c"); }, {"no tensor 'c'"});
}

TEST(Checkpoint, MissingShardIsNamed) {
  TempDir dir;
  write_two_shards(dir, at::randn({2}), at::randn({2}));
  std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
  expect_error([&] { Checkpoint::open(dir.path()); },
               {"model-00002-of-00002.safetensors", "missing shard", "'b'"});
}

TEST(Checkpoint, TensorListedInIndexButAbsentFromShard) {
  TempDir dir;
  write_two_shards(dir, at::randn({2}), at::randn({2}));
  write_file(dir.file("model.safetensors.index.json"),
             R"({"weight_map": {"a": "model-00001-of-00002.safetensors",)"
             R"( "zz": "model-00001-of-00002.safetensors"}})");
  expect_error([&] { Checkpoint::open(dir.path()); },
               {"model-00001-of-00002.safetensors", "'zz'", "not in this shard"});
}

TEST(Checkpoint, IndexMayNotPointOutsideTheFolder) {
  TempDir dir;
  write_file(dir.file("model.safetensors.index.json"),
             R"({"weight_map": {"a": "../../etc/passwd"}})");
  expect_error([&] { Checkpoint::open(dir.path()); }, {"not a file name in the checkpoint folder"});
}

TEST(Checkpoint, EmptyFolderExplainsWhatIsExpected) {
  TempDir dir;
  write_file(dir.file("pytorch_model.bin"), "x");
  expect_error([&] { Checkpoint::open(dir.path()); },
               {"no model.safetensors", "pytorch_model.bin", "HINT"});
}

}  // namespace
}  // namespace xai
