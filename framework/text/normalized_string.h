// A piece of text on its way through the tokenizer pipeline, with the original byte range of every
// byte (the Hugging Face NormalizedString inside one split of a PreTokenizedString).
//
// Alignment rules (they decide every offset, and match the Hugging Face library exactly):
//  - all bytes of one character share one alignment: the original range it came from;
//  - a character that replaces another takes that one's alignment; an inserted character takes the
//    alignment of the byte before it (or the empty range at the piece start when there is none);
//  - a token's original span runs from the start of its first byte's alignment to the end of its
//    last byte's alignment.
// Alignments here are absolute byte offsets into the text given to Tokenizer::encode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/text/regex.h"
#include "framework/text/unicode.h"

namespace xai::text {

struct Align {
  int64_t begin = 0;
  int64_t end = 0;
};

struct Piece {
  std::string text;            // current (normalized) text, valid UTF-8
  std::vector<Align> align;    // (text.size()) original byte range of each byte
  int64_t original_shift = 0;  // original offset where this piece starts (HF original_shift)
  int32_t added_id = -1;       // id of the added token this piece is, or -1
};

// The whole input as one piece. Invalid UTF-8 bytes each become U+FFFD aligned to that byte.
Piece make_root_piece(std::string_view input);

// Original span of text bytes [begin, end) of the piece (HF convert_offsets).
Align original_span(const Piece& p, size_t begin, size_t end);

// Text bytes [begin, end) as a new piece (HF NormalizedString::slice).
Piece slice(const Piece& p, size_t begin, size_t end);

// One character of the new text and how it relates to the old text, as HF's transform() takes
// it: 0 takes the place of the next old character, +1 is inserted, -n takes the place of the next
// old character and removes n more after it.
struct CharChange {
  char32_t c;
  int change;
};

// Rewrites the whole piece; initial_offset old characters are removed at the start.
void transform(Piece& p, const std::vector<CharChange>& dest, size_t initial_offset);

// Maps each character to zero or more characters that all inherit its alignment. f(c, out) appends
// the replacement to out. (Equivalent to transform() with 0/+1 changes, without the bookkeeping.)
template <typename F>
void map_chars(Piece& p, F&& f) {
  std::string text;
  text.reserve(p.text.size() + 8);
  std::vector<Align> align;
  align.reserve(p.text.size() + 8);
  size_t i = 0;
  while (i < p.text.size()) {
    const size_t start = i;
    const char32_t c = next_code_point(p.text, i);
    const size_t before = text.size();
    f(c, text);
    align.insert(align.end(), text.size() - before, p.align[start]);
  }
  p.text = std::move(text);
  p.align = std::move(align);
}

// Inserts s before the first character (nothing when the piece is empty); s takes the first
// character's alignment.
void prepend(Piece& p, std::string_view s);
// Appends s after the last character (nothing when the piece is empty), aligned like it.
void append(Piece& p, std::string_view s);

// Replaces each matched range with content (HF NormalizedString::replace): the content takes the
// alignment of the last byte of the match.
void replace_matches(Piece& p, const MatchList& matches, std::string_view content);

// Unicode normalization forms (NFD, NFKD, NFC, NFKC) with HF's alignment bookkeeping.
void normalize_unicode(Piece& p, bool compatibility, bool compose);

// Removes leading/trailing whitespace characters.
void strip_whitespace(Piece& p, bool left, bool right);

// ---- splitting ---------------------------------------------------------------------------------
// [begin, end) ranges that cover the text, each flagged as a match of the split pattern or not
// (HF Pattern::find_matches).
struct Segment {
  size_t begin;
  size_t end;
  bool is_match;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

void segments_from_matches(const MatchList& matches, size_t size, std::vector<Segment>& out);
// Every character for which pred(c) holds is one match.
template <typename Pred>
void segments_from_predicate(std::string_view s, Pred&& pred, std::vector<Segment>& out) {
  out.clear();
  if (s.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  size_t last = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const char32_t c = next_code_point(s, i);
    if (pred(c)) {
      if (last < start) out.push_back({last, start, false});
      out.push_back({start, i, true});
      last = i;
    }
  }
  if (last < s.size()) out.push_back({last, s.size(), false});
}
// Matches of a literal string (non-overlapping, left to right).
void find_literal(std::string_view s, std::string_view needle, MatchList& out);

// Splits p along the segments with the given behaviour and appends the non-empty pieces to out.
void split_piece(const Piece& p, std::vector<Segment>& segments, SplitBehavior behavior,
                 std::vector<Piece>& out);

}  // namespace xai::text
