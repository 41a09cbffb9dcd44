// See normalized_string.h.
#include "framework/text/normalized_string.h"

#include <utf8proc.h>

#include <algorithm>

namespace xai::text {

Piece make_root_piece(std::string_view input) {
  Piece p;
  p.text.reserve(input.size());
  p.align.reserve(input.size());
  size_t i = 0;
  while (i < input.size()) {
    const auto b = static_cast<unsigned char>(input[i]);
    if (b < 0x80) {  // ASCII fast path
      p.text.push_back(static_cast<char>(b));
      p.align.push_back({static_cast<int64_t>(i), static_cast<int64_t>(i + 1)});
      ++i;
      continue;
    }
    size_t len = valid_utf8_length(input, i);
    const Align a{static_cast<int64_t>(i), static_cast<int64_t>(i + (len > 0 ? len : 1))};
    if (len > 0) {
      p.text.append(input.data() + i, len);
    } else {
      p.text.append("\xEF\xBF\xBD");
      len = 1;
    }
    p.align.insert(p.align.end(), p.text.size() - p.align.size(), a);
    i += len;
  }
  return p;
}

Align original_span(const Piece& p, size_t begin, size_t end) {
  if (begin >= end) {  // HF returns the empty normalized range itself
    return {p.original_shift + static_cast<int64_t>(begin),
            p.original_shift + static_cast<int64_t>(begin)};
  }
  return {p.align[begin].begin, p.align[end - 1].end};
}

Piece slice(const Piece& p, size_t begin, size_t end) {
  Piece s;
  s.text.assign(p.text, begin, end - begin);
  s.align.assign(p.align.begin() + static_cast<std::ptrdiff_t>(begin),
                 p.align.begin() + static_cast<std::ptrdiff_t>(end));
  s.original_shift = begin < end ? p.align[begin].begin : p.original_shift;
  s.added_id = -1;
  return s;
}

void transform(Piece& p, const std::vector<CharChange>& dest, size_t initial_offset) {
  std::string text;
  text.reserve(p.text.size() + dest.size());
  std::vector<Align> align;
  align.reserve(p.text.size() + dest.size());
  const size_t n = p.text.size();
  size_t offset = 0;
  auto skip_char = [&] {
    if (offset < n) offset += utf8_length(static_cast<unsigned char>(p.text[offset]));
  };
  for (size_t k = 0; k < initial_offset; ++k) skip_char();
  const Align empty{p.original_shift, p.original_shift};
  for (const CharChange& d : dest) {
    Align a;
    if (d.change > 0) {
      a = offset == 0 ? empty : p.align[std::min(offset, n) - 1];
    } else {
      a = offset < n ? p.align[offset] : (n > 0 ? p.align[n - 1] : empty);
      skip_char();
      for (int k = 0; k < -d.change; ++k) skip_char();
    }
    const size_t before = text.size();
    append_utf8(text, d.c);
    align.insert(align.end(), text.size() - before, a);
  }
  p.text = std::move(text);
  p.align = std::move(align);
}

void prepend(Piece& p, std::string_view s) {
  if (p.text.empty() || s.empty()) return;
  const Align a = p.align[0];
  p.text.insert(0, s);
  p.align.insert(p.align.begin(), s.size(), a);
}

void append(Piece& p, std::string_view s) {
  if (p.text.empty() || s.empty()) return;
  const Align a = p.align.back();
  p.text.append(s);
  p.align.insert(p.align.end(), s.size(), a);
}

void replace_matches(Piece& p, const MatchList& matches, std::string_view content) {
  if (matches.empty()) return;
  std::string text;
  text.reserve(p.text.size() + matches.size() * content.size());
  std::vector<Align> align;
  align.reserve(text.capacity());
  const Align empty{p.original_shift, p.original_shift};
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    text.append(p.text, last, b - last);
    align.insert(align.end(), p.align.begin() + static_cast<std::ptrdiff_t>(last),
                 p.align.begin() + static_cast<std::ptrdiff_t>(b));
    const Align a = e == 0 ? empty : p.align[e - 1];
    text.append(content);
    align.insert(align.end(), content.size(), a);
    last = e;
  }
  text.append(p.text, last, std::string::npos);
  align.insert(align.end(), p.align.begin() + static_cast<std::ptrdiff_t>(last), p.align.end());
  p.text = std::move(text);
  p.align = std::move(align);
}

namespace {

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// The primary composite of (a, b), or 0 when there is none.
char32_t compose_pair(char32_t a, char32_t b) {
  utf8proc_int32_t buf[2] = {static_cast<utf8proc_int32_t>(a), static_cast<utf8proc_int32_t>(b)};
  const utf8proc_ssize_t len = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE);
  return len == 1 ? static_cast<char32_t>(buf[0]) : 0;
}

}  // namespace

void normalize_unicode(Piece& p, bool compatibility, bool compose) {
  if (std::all_of(p.text.begin(), p.text.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) < 0x80; })) {
    return;  // ASCII is invariant under every normalization form
  }
  // 1. Decompose each character: its first code point replaces it, the others are inserted.
  std::vector<CharChange> dec;
  dec.reserve(p.text.size() + 8);
  const auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compatibility ? UTF8PROC_COMPAT : 0));
  utf8proc_int32_t buf[32];
  size_t i = 0;
  while (i < p.text.size()) {
    const char32_t c = next_code_point(p.text, i);
    int boundclass = 0;
    const utf8proc_ssize_t len =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, options, &boundclass);
    if (len <= 0 || len > 32) {
      dec.push_back({c, 0});
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < len; ++k)
      dec.push_back({static_cast<char32_t>(buf[k]), k == 0 ? 0 : 1});
  }
  // 2. Canonical ordering: runs of non-starters sorted by combining class (changes travel along).
  for (size_t a = 0; a < dec.size();) {
    if (combining_class(dec[a].c) == 0) {
      ++a;
      continue;
    }
    size_t b = a;
    while (b < dec.size() && combining_class(dec[b].c) != 0) ++b;
    if (b - a > 1) {
      std::stable_sort(dec.begin() + static_cast<std::ptrdiff_t>(a),
                       dec.begin() + static_cast<std::ptrdiff_t>(b),
                       [](const CharChange& x, const CharChange& y) {
                         return combining_class(x.c) < combining_class(y.c);
                       });
    }
    a = b;
  }
  // 3. Canonical composition: a composite takes its starter's place and removes the other char.
  if (compose) {
    std::vector<CharChange> out;
    out.reserve(dec.size());
    long starter = -1;
    int last_ccc = -1;  // class of the last character kept after the starter, -1 if none
    for (const CharChange& d : dec) {
      const int ccc = combining_class(d.c);
      if (starter >= 0) {
        const bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= ccc);
        if (!blocked) {
          const char32_t composite = compose_pair(out[starter].c, d.c);
          if (composite != 0) {
            out[starter].c = composite;
            out[starter].change += d.change - 1;
            continue;
          }
        }
      }
      if (ccc == 0) {
        starter = static_cast<long>(out.size());
        last_ccc = -1;
      } else {
        last_ccc = ccc;
      }
      out.push_back(d);
    }
    dec = std::move(out);
  }
  transform(p, dec, 0);
}

void strip_whitespace(Piece& p, bool left, bool right) {
  size_t begin = 0, end = p.text.size();
  if (left) {
    while (begin < end) {
      size_t i = begin;
      if (!is_whitespace(next_code_point(p.text, i))) break;
      begin = i;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(p.text[start]) & 0xC0) == 0x80) --start;
      size_t i = start;
      if (!is_whitespace(next_code_point(p.text, i))) break;
      end = start;
    }
  }
  if (begin == 0 && end == p.text.size()) return;
  p.text = p.text.substr(begin, end - begin);
  p.align = std::vector<Align>(p.align.begin() + static_cast<std::ptrdiff_t>(begin),
                               p.align.begin() + static_cast<std::ptrdiff_t>(end));
}

void segments_from_matches(const MatchList& matches, size_t size, std::vector<Segment>& out) {
  out.clear();
  if (size == 0) {
    out.push_back({0, 0, false});
    return;
  }
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev != size) out.push_back({prev, size, false});
}

void find_literal(std::string_view s, std::string_view needle, MatchList& out) {
  out.clear();
  if (needle.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(needle, pos)) != std::string_view::npos) {
    out.emplace_back(pos, pos + needle.size());
    pos += needle.size();
  }
}

void split_piece(const Piece& p, std::vector<Segment>& segs, SplitBehavior behavior,
                 std::vector<Piece>& out) {
  // Merge the segments the way the behaviour asks; "remove" is kept in is_match for kRemoved.
  std::vector<Segment> merged;
  merged.reserve(segs.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      merged = segs;
      break;
    case SplitBehavior::kIsolated:
      for (const Segment& s : segs) merged.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Segment& s : segs) {
        if (s.is_match == previous_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segs) {
        if (s.is_match && !previous_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
  }
  for (const Segment& s : merged) {
    if (s.is_match || s.begin >= s.end) continue;  // removed, or empty (HF drops empty splits)
    out.push_back(slice(p, s.begin, s.end));
  }
}

}  // namespace xai::text
