// libFuzzer target: xai::Tokenizer::from_json_text, then encode and decode. The input is a
// tokenizer.json, optionally followed by a NUL byte and a text to encode (JSON text cannot hold a
// raw NUL, so the split is unambiguous); a fixed mixed text with invalid UTF-8 is encoded too.
// A bug: a crash, hang or sanitizer report, an exception other than xai::Error, or an encoding
// that breaks tokenizer.h's promises: parallel vectors of one length, byte spans inside the text,
// and ids of non-special tokens inside the vocabulary (id_to_token finds them).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "framework/text/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// Long enough to reach every pre-tokenizer rule, short enough to keep BPE on long words cheap.
constexpr size_t kMaxText = 1024;

void check_encoding(const xai::Tokenizer& tok, const xai::Encoding& e, const std::string& text) {
  const size_t n = e.ids.size();
  XAI_FUZZ_CHECK(e.tokens.size() == n && e.offsets.size() == n && e.special.size() == n,
                 "Encoding vectors differ in length");
  for (size_t i = 0; i < n; ++i) {
    const xai::ByteSpan& s = e.offsets[i];
    XAI_FUZZ_CHECK(0 <= s.begin && s.begin <= s.end && s.end <= static_cast<int64_t>(text.size()),
                   "token ", i, " span [", s.begin, ", ", s.end, ") outside the ", text.size(),
                   "-byte text");
    // Post-processor ids (BOS/EOS/CLS) come from tokenizer.json verbatim and may be anything.
    if (!e.special[i]) {
      XAI_FUZZ_CHECK(0 <= e.ids[i] && e.ids[i] < tok.vocab_size(), "token ", i, " id ", e.ids[i],
                     " outside the vocabulary of ", tok.vocab_size());
    }
  }
}

void exercise(const xai::Tokenizer& tok, const std::string& text) {
  const xai::Encoding with = tok.encode(text, true);
  check_encoding(tok, with, text);
  const xai::Encoding without = tok.encode(text, false);
  check_encoding(tok, without, text);
  (void)tok.decode(with.ids, true);
  (void)tok.decode(with.ids, false);
  for (size_t i = 0; i < without.ids.size() && i < 8; ++i) {
    if (!without.special[i]) (void)tok.id_to_token(without.ids[i]);
    (void)tok.token_to_id(without.tokens[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* chars = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(data, 0, size);
  const size_t json_size =
      nul ? static_cast<size_t>(static_cast<const uint8_t*>(nul) - data) : size;
  const std::string json(chars, json_size);
  std::string text = nul ? std::string(chars + json_size + 1, size - json_size - 1) : std::string();
  if (text.size() > kMaxText) text.resize(kMaxText);

  xai::fuzz::expect_only_xai_errors("Tokenizer::from_json_text", [&] {
    const xai::Tokenizer tok = xai::Tokenizer::from_json_text(json, "fuzz/tokenizer.json");
    // encode may still throw xai::Error (a Split regex over PCRE2's match limit), nothing else.
    xai::fuzz::expect_only_xai_errors("Tokenizer::encode/decode", [&] {
      exercise(tok, text);
      exercise(tok, "Hello, World! 3.14 x2  caf\xc3\xa9 \xe2\x91\xa0\t\n<s> [CLS] \xff\xc3( end ");
      // Ids a caller might pass: out of range, negative, and the edges of the vocabulary.
      (void)tok.decode({-1, 0, tok.vocab_size() - 1, tok.vocab_size(), INT32_MAX, INT64_MAX},
                       false);
      (void)tok.bos_id();
      (void)tok.eos_id();
      (void)tok.unk_id();
      (void)tok.pad_id();
    });
  });
  return 0;
}
