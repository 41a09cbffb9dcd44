// Segments: the explained positions of a text sample grouped into words, sentences, paragraphs or
// the pieces a pattern cuts, by byte spans of the original prompt (the `granularity` every
// explainer takes). A segment is a run of consecutive explained prompt positions whose tokens
// start in the same unit of text; AtMan and occlusion suppress or remove it as one, the other
// methods sum their token scores over it (methods/explainer.h, add_segment_scores).
//
// Units of text (a token belongs to the unit holding its first non-whitespace byte, so a segment
// is always made of whole tokens):
//  - word: Unicode word boundaries, simplified from UAX #29: a run of letters, digits and marks
//    (an apostrophe or period between two letters, a period or comma between two digits, and
//    '_' stay inside), a run of other non-space characters (punctuation, symbols), and each CJK
//    ideograph, are one word each; whitespace separates and belongs to no word.
//  - sentence: ends after . ! ? ... (and the CJK full stops), with any closing quotes or brackets,
//    followed by whitespace or the end; a paragraph break ends one too. "e.g. " ends a sentence.
//  - paragraph: ends at a blank line (a line break, optional spaces or tabs, a line break).
//  - regex:<pattern>: the pattern (Oniguruma syntax, as tokenizer.json's) matches separators; a
//    unit ends after each match.
//  - auto:<N>: the finest of token, word, sentence and paragraph with at most N segments
//    (paragraph when none has), as Aleph Alpha's explanation API aims at a few dozen.
// A text pair's second text starts a new unit at every level; a special token the sample explains
// (explain_special_tokens) is a segment of its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/text/encoded.h"

namespace xai {

struct Granularity {
  enum class Level { kToken, kWord, kSentence, kParagraph, kRegex, kAuto };
  Level level = Level::kToken;
  std::string pattern;       // kRegex
  int64_t max_segments = 0;  // kAuto
  bool token() const { return level == Level::kToken; }
  // As written: "token", "sentence", "regex:[,;]", "auto:30".
  std::string name() const;
};

// Segments in results, as an explanation's extras (methods/explainer.h, add_segment_scores):
// kSegmentsExtra (S, 4): each segment's first position, end position (exclusive), first byte and
// end byte in the prompt (whole numbers, exact in float32: prompts are under 2^24 bytes);
// kSegmentRelevanceExtra (S): its relevance; kSegmentPerTargetExtra (n_targets, S): its
// per-target scores.
inline constexpr const char* kSegmentsExtra = "segments";
inline constexpr const char* kSegmentRelevanceExtra = "segment_relevance";
inline constexpr const char* kSegmentPerTargetExtra = "segment_per_target";

// Reads "token" | "word" | "sentence" | "paragraph" | "regex:<pattern>" | "auto:<N>". Throws
// xai::Error saying what is accepted (the caller prefixes where it was written); a regex that
// does not compile is an error here, not per sample.
Granularity parse_granularity(const std::string& text);

struct Segmentation {
  std::string level;              // the level used: auto's choice, else the granularity's name
  std::vector<Segment> segments;  // empty: token level (every explained position on its own)
};

// The segments of `sample` (encoded from `prompt`) at `granularity`. Throws xai::Error for an
// image sample (explained per patch) or a prompt of 2^24 bytes or more (results store byte
// offsets as float32, exact below that).
Segmentation make_segments(const std::string& prompt, const Encoded& sample,
                           const Granularity& granularity);

}  // namespace xai
