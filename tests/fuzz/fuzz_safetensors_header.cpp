// libFuzzer target: xai::parse_safetensors_header on a whole file (the input is the file, header
// length field, JSON header and data buffer). A bug: a crash or sanitizer report (e.g. a read past
// the input), an exception other than xai::Error, or an accepted header that breaks the promises
// of safetensors_header.h: tensors sorted by name, each [begin, end) exactly numel * dtype_size
// bytes, and all of them tiling the data buffer with no gap or overlap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "framework/tensor_io/safetensors_header.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void check_header(const xai::SafetensorsHeader& h, uint64_t size) {
  XAI_FUZZ_CHECK(h.data_start >= 8 && h.data_start <= size, "data_start ", h.data_start);
  const uint64_t data_bytes = size - h.data_start;
  std::vector<const xai::TensorInfo*> by_offset;
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const xai::TensorInfo& t = h.tensors[i];
    if (i > 0) XAI_FUZZ_CHECK(h.tensors[i - 1].name < t.name, "not sorted by name at ", t.name);
    XAI_FUZZ_CHECK(t.name != "__metadata__", "__metadata__ read as a tensor");
    XAI_FUZZ_CHECK(t.begin <= t.end && t.end <= data_bytes, "tensor ", t.name, " out of range");
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      XAI_FUZZ_CHECK(d >= 0, "negative dimension in ", t.name);
      XAI_FUZZ_CHECK(d == 0 || numel <= INT64_MAX / d, "numel overflows for ", t.name);
      numel *= d;
    }
    XAI_FUZZ_CHECK(t.numel() == numel, "numel() of ", t.name);
    const uint64_t bytes = static_cast<uint64_t>(numel) * xai::dtype_size(t.dtype);
    XAI_FUZZ_CHECK(t.end - t.begin == bytes, "size of ", t.name, " is not numel * dtype_size");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const xai::TensorInfo* a, const xai::TensorInfo* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  uint64_t covered = 0;
  for (const xai::TensorInfo* t : by_offset) {
    XAI_FUZZ_CHECK(t->begin == covered, "gap or overlap at ", t->name);
    covered = t->end;
  }
  XAI_FUZZ_CHECK(covered == data_bytes, "tensors cover ", covered, " of ", data_bytes, " bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is a heap copy of exactly `size` bytes, so ASan sees any read past it.
  xai::fuzz::expect_only_xai_errors("parse_safetensors_header", [&] {
    const xai::SafetensorsHeader h = xai::parse_safetensors_header(data, size, "fuzz.safetensors");
    check_header(h, size);
  });
  return 0;
}
