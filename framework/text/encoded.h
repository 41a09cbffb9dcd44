// A sample as text (what datasets produce) and its encoding for one model's tokenizer (what
// explainers read): the seam between datasets/ and methods/.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/text/tokenizer.h"

namespace xai {

struct Image;

struct Sample {
  std::string id;      // stable across runs: sharding and resume key
  std::string prompt;  // what the model reads (template applied)
  std::string target;  // what it should produce next (teacher-forced)
  // The target as token ids (the model's own generation), used instead of encoding `target`,
  // which then holds their decoded text; empty: `target` is encoded.
  std::vector<int64_t> target_ids;
  // dataset.target: generate: the model answers the prompt itself (greedy, up to
  // `max_new_tokens`, ending at its EOS or after the token that completes `stop`) and that answer
  // becomes the target explained (target_ids); until then `target` is the dataset's answer, which
  // the exact match compares with. max_new_tokens 0: `target` is explained as given.
  struct Generate {
    int64_t max_new_tokens = 0;
    std::string stop;
  };
  Generate generate;
  // A conversation (a dataset's "messages", `explain --messages`): apply_chat_template renders
  // it with the model's chat template into `prompt` (and `explain`: the user turns' text) and
  // sets `chat`: the prompt then holds the template's special tokens, and encoding adds none (no
  // second BOS). Empty: `prompt` is the text as given.
  struct Message {
    std::string role, content;
  };
  std::vector<Message> messages;
  bool chat = false;
  // A contrast (inseq's contrastive attribution): explain the target against this foil, f(target)
  // - f(foil) at each target step. A language model's foil is text with as many tokens as the
  // target (each foil token scored at its target token's position, after the real target's
  // earlier tokens); a classifier's foil is a class (name or id). Empty: no contrast.
  std::string foil;
  // A classification sample (a classifier model): the class to explain, by its name in the
  // model's id2label or by its id ("2"); `target` is then unused. Empty: next-token targets.
  std::string label;
  // A text pair (premise and hypothesis): `prompt` holds text a, one '\n', then text b, which
  // starts at byte pair_split; the tokenizer encodes them as a pair (with the model's token
  // types). Classification samples only. -1: one text.
  int64_t pair_split = -1;
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
  // An image sample (for an image model, ViT): the decoded image, read by the dataset (a bad file
  // fails the sample there), with `label` the class to explain; `prompt` and `target` are unused.
  // `mask` (optional, the image's size, gray 0..255, soft edges allowed) is the ground truth:
  // its value on the patch grid is the evidence. `image_path` names the file in messages.
  std::shared_ptr<const Image> image, mask;
  std::string image_path;
  bool is_image() const { return image != nullptr; }
};

// A run of consecutive explained prompt positions [first, end) explained as one (a word, a
// sentence: framework/text/segments.h), and its bytes of the prompt (whitespace around trimmed;
// empty for a special token).
struct Segment {
  int64_t first = 0, end = 0;
  ByteSpan span;
};

struct Encoded {
  std::vector<int64_t> ids;         // (T) prompt tokens, then the target tokens except the last
  int64_t prompt_len = 0;           // target token t is predicted at position prompt_len - 1 + t
  std::vector<int64_t> target_ids;  // (n_targets); a classification sample's one class id
  // (n_targets) the contrast's foil at each target step (Sample::foil); empty: no contrast.
  std::vector<int64_t> foil_ids;
  // A classification sample: the position whose logits give the class (0, [CLS]); its ids are the
  // prompt's alone (prompt_len = T) and it has one target, the class. -1: next-token targets.
  int64_t readout = -1;
  // (T) token types of a text pair (BERT's segment ids); empty = type 0 everywhere.
  std::vector<int64_t> token_types;
  // An image sample (an image family, ViT): its preprocessed pixels, C x H x W floats row-major,
  // and that shape; its T = 1 + patches positions are [CLS] and the patches, and ids holds
  // 0 .. T - 1 as placeholders. Null for text.
  std::shared_ptr<const std::vector<float>> pixels;
  std::vector<int64_t> pixel_shape;
  bool image() const { return pixels != nullptr; }
  // An image sample's patches per side: its T - 1 patches form a square grid over the pixel_shape's
  // H x W (checked: throws xai::Error when they do not).
  int64_t patch_grid() const;
  // (T) 1 where a position gets a relevance score. Every explainer follows it: elsewhere (special
  // tokens unless asked for, prompt tokens outside the explain spans, target positions) the
  // stored relevance and per-target scores are NaN, "no score" (see keep_explained).
  std::vector<uint8_t> explain_mask;
  std::vector<float> evidence_mask;  // (T) 1 where the token overlaps the evidence; empty = none
  // An image sample with a mask: the mask at the model input's resolution (H x W of pixel_shape,
  // row-major, in [0, 1]), for the segmentation metrics; empty otherwise.
  std::vector<float> evidence_pixels;
  // (T) byte spans: into `prompt` for positions < prompt_len, into `target` after.
  std::vector<ByteSpan> offsets;
  std::vector<std::string> tokens;  // (T) vocabulary strings, for display
  // The tokenizer's UNK id, its PAD id when it has no UNK (inseq's IG baseline); nullopt: neither.
  std::optional<int64_t> unk_id;
  std::optional<int64_t> mask_id;  // the tokenizer's mask token ([MASK], <mask>); nullopt: none
  // The explainer's segments (its granularity; set per explainer by the runner and `explain`,
  // never by encode_sample): AtMan and occlusion perturb each as one; empty: token level.
  std::vector<Segment> segments;
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  bool classification() const { return readout >= 0; }
  // The position whose logits target t is read from: the readout of a classification sample,
  // else the position predicting target token t.
  int64_t logit_position(int64_t t) const { return readout >= 0 ? readout : prompt_len - 1 + t; }
  int64_t num_targets() const { return static_cast<int64_t>(target_ids.size()); }
};

// Tokenizes prompt (with the tokenizer's special tokens, e.g. BOS) and target (without) apart,
// and builds the masks. Throws xai::Error naming the sample id when the target encodes to no
// token, when prompt + target exceed max_tokens ("sample 'q17' has 2100 tokens, the model takes
// 2048"), or when an explain/evidence span lies outside the prompt or covers no token.
// `labels`: a classifier's classes (ModelSpec::labels): the sample must then have a label, one of
// them (by name or id), and is encoded as a classification sample; empty: a language model, and a
// labelled sample is refused.
Encoded encode_sample(const Sample& sample, const Tokenizer& tokenizer, int64_t max_tokens,
                      const std::vector<std::string>& labels = {});

// The class id `label` names among `labels`: its name, else its id as a number. Throws
// xai::Error naming `what` (e.g. "sample 'q3'") and the classes.
int64_t class_id(const std::string& label, const std::vector<std::string>& labels,
                 const std::string& what);

}  // namespace xai
