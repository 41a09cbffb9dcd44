// Removing positions from a sample's input, the operators that occlusion and the faithfulness
// metrics (framework/eval/perturbation.h) share. The choice moves the numbers (the literature's
// caveat that a soft removal and a kept position count inflate or deflate scores), so each use
// records it:
//   drop       the token is taken out of the sequence and the later ones move up one position;
//              on an image the patch's pixels are set to 0 in the normalised input (Chefer's ViT
//              removal: a patch token keeps its grid position)
//   attention  no query attends to it (its key column hidden in every layer); positions kept
//   replace    its id becomes a replacement token (unk, pad, mask or an id); text only
//   zero       its layer-0 input (word or patch embedding) is set to 0; positions and token types
//              are still added
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "methods/explainer.h"

namespace xai {

enum class Removal { kDrop, kAttention, kReplace, kZero };

// "drop", "attention", "replace" or "zero", as the YAML key `removal` names it.
const char* removal_name(Removal removal);
// The YAML value `node[key]` (default drop) and, for replace, `token` (unk | pad | mask | an id),
// each checked with its file and line. `token` is left as it was for the other operators, and a
// `token` key beside another operator is an error.
Removal read_removal(const ConfigNode& node, const char* key, std::string& token);

// The id `replace` writes for `token`: the tokenizer's UNK (PAD when it has none: `unk`), the
// model's pad_token_id, the tokenizer's mask token, or the id itself, checked against the
// vocabulary; `who` begins each error. The first form takes the tokenizer's ids (the plan checks
// every model with it before a run), the second the sample's.
int64_t replacement_id(const std::string& token, const ModelSpec& spec, std::optional<int64_t> unk,
                       std::optional<int64_t> mask, const std::string& who);
int64_t replacement_id(const std::string& token, const Model& model, const Encoded& sample,
                       const char* who);

// The request that runs the sample with, in row b, the positions gone[b] (ascending) removed,
// reading the targets' logits; for `attention`, `ctl` gets the key factors that hide them.
// Drop on text: rows that all remove the same number of positions run as shortened sequences
// (a dropped target's logit position moves to the token before it); rows of unequal counts run
// in the attention-mask form (the removed tokens masked out, the later positions renumbered,
// which is the same computation), and then no removed position may be a logit position.
// `from` > 0 (a causal model's text only, every removed position at or after it): the request
// holds the tokens from `from` on, and the caller sets its `past` to the clean keys and values of
// the first `from` positions (the prefix no row changes).
ForwardRequest removal_request(Model& model, const Encoded& sample, const SampleInput& input,
                               const std::vector<std::vector<int64_t>>& gone, Removal removal,
                               int64_t token, AttentionControl& ctl, int64_t from = 0);

// The clean keys and values of the sample's first `length` positions (a causal model's text),
// for removal_request's `from`: one forward of that prefix.
KVCache clean_prefix(Model& model, const SampleInput& input, int64_t length);

}  // namespace xai
