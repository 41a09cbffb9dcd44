// libFuzzer target: the JSONL dataset reader. The input is written to a file in a scratch folder
// (open_jsonl reads by path) and opened twice, by open_jsonl and through open_dataset with the
// other explain mode and a line limit; every sample's id(i) and get(i) are read. A bug: a crash or
// sanitizer report, an exception other than xai::Error, id(i) throwing at all (dataset.h says it
// never does), get(size()) not throwing, or an accepted sample whose evidence/explain spans are not
// non-empty byte spans of its prompt.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/jsonl.h"
#include "tests/fuzz/fuzz_tmp.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void check_spans(const std::vector<xai::ByteSpan>& spans, const xai::Sample& s) {
  for (const xai::ByteSpan& b : spans) {
    XAI_FUZZ_CHECK(
        0 <= b.begin && b.begin < b.end && b.end <= static_cast<int64_t>(s.prompt.size()),
        "sample ", s.id, ": span [", b.begin, ", ", b.end, ") of a ", s.prompt.size(),
        "-byte prompt");
  }
}

void read_every_sample(const xai::Dataset& dataset, const xai::DatasetOptions& options) {
  const int64_t n = dataset.size();
  XAI_FUZZ_CHECK(n >= 0 && (options.limit == 0 || n <= options.limit), "size ", n);
  for (int64_t i = 0; i < n; ++i) {
    std::string id;
    try {
      id = dataset.id(i);
    } catch (const xai::Error& e) {
      xai::fuzz::fail(xai::str_cat("id(", i, ") threw: ", e.what()));
    }
    XAI_FUZZ_CHECK(!id.empty(), "id(", i, ") is empty");
    try {
      const xai::Sample s = dataset.get(i);
      XAI_FUZZ_CHECK(s.id == id, "get(", i, ").id '", s.id, "' != id(i) '", id, "'");
      check_spans(s.evidence, s);
      check_spans(s.explain, s);
      if (options.explain == "prompt") XAI_FUZZ_CHECK(s.explain.empty(), "explain: prompt");
    } catch (const xai::Error&) {
    }
  }
  bool threw = false;
  try {
    (void)dataset.get(n);
  } catch (const xai::Error&) {
    threw = true;
  }
  XAI_FUZZ_CHECK(threw, "get(size()) did not throw");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = xai::fuzz::scratch_dir() + "/fuzz.jsonl";
  xai::fuzz::write_file(path, reinterpret_cast<const char*>(data), size);
  xai::DatasetOptions options;
  options.path = path;
  xai::fuzz::expect_only_xai_errors("open_jsonl",
                                    [&] { read_every_sample(*xai::open_jsonl(options), options); });
  // Through the registry too, which also rejects duplicate ids.
  options.explain = "prompt";
  options.limit = 2;
  xai::fuzz::expect_only_xai_errors("open_dataset(jsonl)", [&] {
    read_every_sample(*xai::open_dataset("jsonl", options), options);
  });
  return 0;
}
