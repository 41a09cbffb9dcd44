// encode_sample (declared in encoded.h): a Sample's text -> the token view explainers read.
//
// Conventions beyond the header: the input length checked against max_tokens is the model's
// input, prompt + target[:-1] (max_tokens <= 0 means no limit); special tokens (e.g. BOS) carry
// no text, so they are never evidence, and explained only when the sample asks for them
// (Sample::explain_special_tokens), also when `explain` names spans; target positions are never
// explained.
#include <algorithm>
#include <cctype>
#include <cmath>

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

// The explain and evidence masks over e.ids (the prompt's tokens first).
void fill_masks(const Sample& sample, const Encoding& prompt, Encoded& e) {
  const size_t T = e.ids.size(), P = prompt.size();
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
}

}  // namespace

int64_t class_id(const std::string& label, const std::vector<std::string>& labels,
                 const std::string& what) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == label) return static_cast<int64_t>(i);
  }
  // Case aside, when one class matches ("entailment" for a model's "ENTAILMENT").
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  int64_t found = -1, matches = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (lower(labels[i]) == lower(label)) {
      found = static_cast<int64_t>(i);
      ++matches;
    }
  }
  if (matches == 1) return found;
  if (!label.empty() && label.find_first_not_of("0123456789") == std::string::npos &&
      label.size() < 10) {
    const int64_t id = std::stoll(label);
    if (id < static_cast<int64_t>(labels.size())) return id;
  }
  std::string names;
  for (size_t i = 0; i < labels.size() && i < 20; ++i) names += (i ? ", " : "") + labels[i];
  if (labels.size() > 20) names += str_cat(", ... (", labels.size(), " in all)");
  throw Error(str_cat(what, ": label '", label, "' is not a class of the model (classes: ", names,
                      "; or an id from 0 to ", labels.size() - 1, ")"));
}

namespace {

// A classification sample: the prompt's tokens, one target (the class) read at [CLS].
Encoded encode_classification(const Sample& sample, const Tokenizer& tokenizer, int64_t max_tokens,
                              const std::vector<std::string>& labels) {
  const std::string what = str_cat("sample '", sample.id, "'");
  XAI_CHECK(!sample.label.empty(), what,
            " has no label, and the model is a classifier: say which class to explain (a "
            "dataset's label field, or --target on the command line)");
  Encoding prompt;
  if (sample.pair_split >= 0) {
    const int64_t split = sample.pair_split;
    XAI_CHECK(split >= 1 && split <= static_cast<int64_t>(sample.prompt.size()) &&
                  sample.prompt[static_cast<size_t>(split - 1)] == '\n',
              what, ": internal: pair_split ", split, " does not follow a '\\n' in the text");
    prompt = tokenizer.encode_pair(sample.prompt.substr(0, static_cast<size_t>(split - 1)),
                                   sample.prompt.substr(static_cast<size_t>(split)), true);
    // Offsets into the joined text: b's tokens move past a and the '\n'.
    for (size_t t = 0; t < prompt.size(); ++t) {
      if (prompt.sequence_ids[t] == 1) {
        prompt.offsets[t].begin += split;
        prompt.offsets[t].end += split;
      }
    }
  } else {
    prompt = tokenizer.encode(sample.prompt, /*add_special_tokens=*/true);
  }
  XAI_CHECK(prompt.size() > 0, what, ": the text encodes to no token");
  const int64_t T = static_cast<int64_t>(prompt.size());
  XAI_CHECK(max_tokens <= 0 || T <= max_tokens, what, " has ", T, " tokens, the model takes ",
            max_tokens);
  Encoded e;
  e.ids = prompt.ids;
  e.prompt_len = T;
  e.readout = 0;
  e.target_ids = {class_id(sample.label, labels, what)};
  if (!sample.foil.empty()) {
    e.foil_ids = {class_id(sample.foil, labels, what + "'s foil")};
    XAI_CHECK(e.foil_ids != e.target_ids, what, ": the foil '", sample.foil,
              "' is the class explained (HINT: a contrast needs another class)");
  }
  e.unk_id = tokenizer.unk_or_pad_id();
  e.mask_id = tokenizer.mask_id();
  e.offsets = prompt.offsets;
  e.tokens = prompt.tokens;
  for (uint8_t t : prompt.type_ids) {
    if (t != 0) {
      e.token_types.assign(prompt.type_ids.begin(), prompt.type_ids.end());
      break;
    }
  }
  fill_masks(sample, prompt, e);
  return e;
}

// Token ids given as they are (a generation): each token's vocabulary string, and its byte span
// in the decoded text (where the decoding of the ids before it ends, to where the decoding with
// it ends; special tokens decode to nothing).
Encoding given_ids(const std::vector<int64_t>& ids, const Tokenizer& tokenizer) {
  Encoding e;
  e.ids = ids;
  size_t end = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    e.tokens.push_back(tokenizer.id_to_token(ids[i]));
    const std::vector<int64_t> head(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    const size_t next = std::max(end, tokenizer.decode(head).size());
    e.offsets.push_back({static_cast<int64_t>(end), static_cast<int64_t>(next)});
    end = next;
  }
  return e;
}

}  // namespace

int64_t Encoded::patch_grid() const {
  XAI_CHECK(image() && pixel_shape.size() == 3, "internal: patch_grid of a text sample");
  const int64_t g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(size() - 1))));
  XAI_CHECK(g > 0 && g * g == size() - 1 && pixel_shape[1] % g == 0 && pixel_shape[2] % g == 0,
            "internal: ", size() - 1, " patches of a ", pixel_shape[1], "x", pixel_shape[2],
            " image");
  return g;
}

Encoded encode_sample(const Sample& sample, const Tokenizer& tokenizer, int64_t max_tokens,
                      const std::vector<std::string>& labels) {
  if (!labels.empty()) return encode_classification(sample, tokenizer, max_tokens, labels);
  XAI_CHECK(sample.pair_split < 0, "sample '", sample.id,
            "' is a text pair, which only a classifier reads (HINT: a *ForSequenceClassification "
            "checkpoint)");
  XAI_CHECK(sample.label.empty(), "sample '", sample.id, "' has a label ('", sample.label,
            "'), but the model is not a classifier (HINT: a *ForSequenceClassification "
            "checkpoint, or a dataset with next-token targets)");
  XAI_CHECK(sample.messages.empty() || sample.chat, "sample '", sample.id,
            "': internal: a conversation reached the encoder unrendered (apply_chat_template)");
  // A rendered chat template holds its own special tokens (BOS included): none are added.
  const Encoding prompt = tokenizer.encode(sample.prompt, /*add_special_tokens=*/!sample.chat);
  const Encoding target = sample.target_ids.empty()
                              ? tokenizer.encode(sample.target, /*add_special_tokens=*/false)
                              : given_ids(sample.target_ids, tokenizer);
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
  e.unk_id = tokenizer.unk_or_pad_id();
  e.mask_id = tokenizer.mask_id();
  e.target_ids = target.ids;
  if (!sample.foil.empty()) {  // a contrast: one foil token per target token
    e.foil_ids = tokenizer.encode(sample.foil, /*add_special_tokens=*/false).ids;
    XAI_CHECK(e.foil_ids.size() == e.target_ids.size(), "sample '", sample.id, "': the foil '",
              sample.foil, "' encodes to ", e.foil_ids.size(), " token(s) and the target to ",
              e.target_ids.size(), "; a contrast is taken token by token (HINT: a foil of as many "
              "tokens, e.g. one word against one word)");
    XAI_CHECK(e.foil_ids != e.target_ids, "sample '", sample.id, "': the foil '", sample.foil,
              "' is the target itself (HINT: a contrast needs another answer)");
  }
  e.ids.reserve(T);
  e.ids.insert(e.ids.end(), prompt.ids.begin(), prompt.ids.end());
  e.ids.insert(e.ids.end(), target.ids.begin(), target.ids.end() - 1);
  e.offsets.insert(e.offsets.end(), prompt.offsets.begin(), prompt.offsets.end());
  e.offsets.insert(e.offsets.end(), target.offsets.begin(), target.offsets.end() - 1);
  e.tokens.insert(e.tokens.end(), prompt.tokens.begin(), prompt.tokens.end());
  e.tokens.insert(e.tokens.end(), target.tokens.begin(), target.tokens.end() - 1);

  fill_masks(sample, prompt, e);
  return e;
}

}  // namespace xai
