// encode_sample (declared in encoded.h): a Sample's text -> the token view explainers read.
//
// Conventions beyond the header: the input length checked against max_tokens is the model's
// input, prompt + target[:-1] (max_tokens <= 0 means no limit); special tokens (e.g. BOS) carry
// no text, so they are never evidence, and explained only when the sample asks for them
// (Sample::explain_special_tokens), also when `explain` names spans; target positions are never
// explained.
#include <algorithm>

#include "framework/common/error.h"
#include "framework/text/encoded.h"

namespace xai {
namespace {

bool overlaps(const ByteSpan& token, const ByteSpan& span) {
  return token.begin < token.end && token.begin < span.end && span.begin < token.end;
}

// Marks the prompt tokens that overlap one of `spans`; checks every span lies inside the prompt
// and covers at least one token.
template <typename T>
void mark(const Sample& s, const Encoding& prompt, const std::vector<ByteSpan>& spans,
          const char* what, std::vector<T>& mask) {
  const auto n = static_cast<int64_t>(s.prompt.size());
  for (size_t k = 0; k < spans.size(); ++k) {
    const ByteSpan& sp = spans[k];
    XAI_CHECK(sp.begin >= 0 && sp.begin < sp.end && sp.end <= n, "sample '", s.id, "': ", what,
              " span ", k, " [", sp.begin, ", ", sp.end,
              ") is not a non-empty byte range of the prompt (", n, " bytes)");
    bool any = false;
    for (size_t t = 0; t < prompt.size(); ++t) {
      if (prompt.special[t] || !overlaps(prompt.offsets[t], sp)) continue;
      mask[t] = 1;
      any = true;
    }
    XAI_CHECK(any, "sample '", s.id, "': ", what, " span ", k, " [", sp.begin, ", ", sp.end,
              ") covers no prompt token");
  }
}

}  // namespace

Encoded encode_sample(const Sample& sample, const Tokenizer& tokenizer, int64_t max_tokens) {
  const Encoding prompt = tokenizer.encode(sample.prompt, /*add_special_tokens=*/true);
  const Encoding target = tokenizer.encode(sample.target, /*add_special_tokens=*/false);
  XAI_CHECK(prompt.size() > 0, "sample '", sample.id, "': the prompt encodes to no token");
  XAI_CHECK(target.size() > 0, "sample '", sample.id, "': the target '", sample.target,
            "' encodes to no token (HINT: a target needs at least one token to explain)");
  const size_t P = prompt.size();
  const size_t T = P + target.size() - 1;
  XAI_CHECK(max_tokens <= 0 || static_cast<int64_t>(T) <= max_tokens, "sample '", sample.id,
            "' has ", T, " tokens (prompt ", P, " + target ", target.size(),
            " - 1), the model takes ", max_tokens);

  Encoded e;
  e.prompt_len = static_cast<int64_t>(P);
  e.unk_id = tokenizer.unk_id() ? tokenizer.unk_id() : tokenizer.pad_id();
  e.target_ids = target.ids;
  e.ids.reserve(T);
  e.ids.insert(e.ids.end(), prompt.ids.begin(), prompt.ids.end());
  e.ids.insert(e.ids.end(), target.ids.begin(), target.ids.end() - 1);
  e.offsets.insert(e.offsets.end(), prompt.offsets.begin(), prompt.offsets.end());
  e.offsets.insert(e.offsets.end(), target.offsets.begin(), target.offsets.end() - 1);
  e.tokens.insert(e.tokens.end(), prompt.tokens.begin(), prompt.tokens.end());
  e.tokens.insert(e.tokens.end(), target.tokens.begin(), target.tokens.end() - 1);

  e.explain_mask.assign(T, 0);
  if (sample.explain.empty()) {
    for (size_t t = 0; t < P; ++t) e.explain_mask[t] = prompt.special[t] ? 0 : 1;
  } else {
    mark(sample, prompt, sample.explain, "explain", e.explain_mask);
  }
  if (sample.explain_special_tokens) {
    for (size_t t = 0; t < P; ++t) e.explain_mask[t] |= prompt.special[t];
  }
  if (!sample.evidence.empty()) {
    e.evidence_mask.assign(T, 0.0f);
    mark(sample, prompt, sample.evidence, "evidence", e.evidence_mask);
  }
  return e;
}

}  // namespace xai
