// A sample as text (what datasets produce) and its encoding for one model's tokenizer (what
// explainers read): the seam between datasets/ and methods/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framework/text/tokenizer.h"

namespace xai {

struct Sample {
  std::string id;      // stable across runs: sharding and resume key
  std::string prompt;  // what the model reads (template applied)
  std::string target;  // what it should produce next (teacher-forced)
  // Byte spans of `prompt` whose tokens get relevance scores; empty = every prompt token.
  std::vector<ByteSpan> explain;
  // Whether the tokenizer's special tokens in the prompt (a BOS, a chat marker) are explained
  // too: they carry no text, so no span can name them; off by default (they are not part of what
  // the user wrote), on to see attention sinks (dataset.explain_special_tokens).
  bool explain_special_tokens = false;
  // Byte spans of `prompt` that are the ground-truth evidence (e.g. the answer inside the
  // context); empty = the dataset has none.
  std::vector<ByteSpan> evidence;
  std::map<std::string, std::string> meta;  // e.g. question, answer, title: for reports only
};

struct Encoded {
  std::vector<int64_t> ids;         // (T) prompt tokens, then the target tokens except the last
  int64_t prompt_len = 0;           // target token t is predicted at position prompt_len - 1 + t
  std::vector<int64_t> target_ids;  // (n_targets)
  // (T) 1 where a position gets a relevance score. Every explainer follows it: elsewhere (special
  // tokens unless asked for, prompt tokens outside the explain spans, target positions) the
  // stored relevance and per-target scores are NaN, "no score" (see keep_explained).
  std::vector<uint8_t> explain_mask;
  std::vector<float> evidence_mask;  // (T) 1 where the token overlaps the evidence; empty = none
  // (T) byte spans: into `prompt` for positions < prompt_len, into `target` after.
  std::vector<ByteSpan> offsets;
  std::vector<std::string> tokens;  // (T) vocabulary strings, for display
  // The tokenizer's UNK id, its PAD id when it has no UNK (inseq's IG baseline); nullopt: neither.
  std::optional<int64_t> unk_id;
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  int64_t num_targets() const { return static_cast<int64_t>(target_ids.size()); }
};

// Tokenizes prompt (with the tokenizer's special tokens, e.g. BOS) and target (without) apart,
// and builds the masks. Throws xai::Error naming the sample id when the target encodes to no
// token, when prompt + target exceed max_tokens ("sample 'q17' has 2100 tokens, the model takes
// 2048"), or when an explain/evidence span lies outside the prompt or covers no token.
Encoded encode_sample(const Sample& sample, const Tokenizer& tokenizer, int64_t max_tokens);

}  // namespace xai
