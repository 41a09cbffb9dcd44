// See segments.h.
#include "framework/text/segments.h"

#include <algorithm>

#include "framework/common/error.h"
#include "framework/text/regex.h"
#include "framework/text/unicode.h"

namespace xai {
namespace {

using Level = Granularity::Level;

// The prompt's code points with their first byte (invalid bytes read as U+FFFD, one byte each).
struct CodePoint {
  char32_t c;
  size_t byte;
};
std::vector<CodePoint> code_points(const std::string& s) {
  std::vector<CodePoint> out;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    if (text::valid_utf8_length(s, i) == 0) {
      out.push_back({0xFFFD, at});
      ++i;
      continue;
    }
    out.push_back({text::next_code_point(s, i), at});
  }
  return out;
}

bool is_space(char32_t c) { return text::is_whitespace(c); }
bool is_word_char(char32_t c) { return c == '_' || text::is_alphanumeric(c) || text::is_mark(c); }
bool is_letter(char32_t c) { return text::is_alphanumeric(c) && !text::is_numeric(c); }
bool is_terminal(char32_t c) {
  return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 ||
         c == 0xFF1F || c == 0xFF0E;
}
bool is_closer(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201D || c == 0x2019 ||
         c == 0xBB || c == 0x300D || c == 0x300F || c == 0xFF09;
}

// Byte positions where a unit of text starts after the first, ascending.
std::vector<size_t> word_starts(const std::vector<CodePoint>& cps) {
  // 0 space, 1 word, 2 other, 3 ideograph (a word of its own).
  std::vector<int> cls(cps.size());
  for (size_t k = 0; k < cps.size(); ++k) {
    const char32_t c = cps[k].c;
    cls[k] = is_space(c) ? 0 : text::is_chinese_char(c) ? 3 : is_word_char(c) ? 1 : 2;
  }
  // Inside a word: an apostrophe or period between letters (don't, e.g), a period or comma
  // between digits (3.14, 1,000).
  for (size_t k = 1; k + 1 < cps.size(); ++k) {
    const char32_t c = cps[k].c, a = cps[k - 1].c, b = cps[k + 1].c;
    const bool mid_letter = (c == '\'' || c == 0x2019 || c == '.') && is_letter(a) && is_letter(b);
    const bool mid_number = (c == '.' || c == ',') && text::is_numeric(a) && text::is_numeric(b);
    if (mid_letter || mid_number) cls[k] = 1;
  }
  std::vector<size_t> out;
  for (size_t k = 1; k < cps.size(); ++k) {
    if (cls[k] == 0) continue;
    if (cls[k] != cls[k - 1] || cls[k] == 3) out.push_back(cps[k].byte);
  }
  return out;
}

// Sentence (paragraphs_only false) or paragraph starts.
std::vector<size_t> sentence_starts(const std::vector<CodePoint>& cps, bool paragraphs_only) {
  std::vector<size_t> out;
  bool seen = false;      // a non-space character before (no unit starts before the first)
  bool terminal = false;  // the text so far ends a sentence if whitespace follows
  bool pending = false;   // the next non-space character starts a unit
  int newlines = 0;       // line breaks in the current run of whitespace
  for (const CodePoint& cp : cps) {
    const char32_t c = cp.c;
    if (is_space(c)) {
      if (c == '\n') ++newlines;
      if (newlines >= 2) pending = true;  // a blank line
      if (!paragraphs_only && terminal) pending = true;
      continue;
    }
    if (pending && seen) out.push_back(cp.byte);
    pending = false;
    newlines = 0;
    seen = true;
    // A closer after a terminal keeps it (He said "Go." Then...); anything else ends it.
    terminal = is_terminal(c) || (terminal && is_closer(c));
  }
  return out;
}

std::vector<size_t> pattern_starts(const std::string& prompt, const std::string& pattern) {
  const text::Regex re(pattern);
  text::MatchList matches;
  re.find_all(prompt, matches);
  std::vector<size_t> out;
  for (const auto& m : matches) {
    if (m.second > 0 && m.second < prompt.size()) out.push_back(m.second);
  }
  return out;
}

// Groups the explained prompt positions into runs whose tokens start in the same unit (units
// begin at `starts`, plus the second text of a pair).
std::vector<Segment> group(const std::string& prompt, const Encoded& enc,
                           const std::vector<CodePoint>& cps, std::vector<size_t> starts) {
  std::vector<bool> space(prompt.size() + 1, false);
  for (size_t k = 0; k < cps.size(); ++k) {
    if (!is_space(cps[k].c)) continue;
    const size_t end = k + 1 < cps.size() ? cps[k + 1].byte : prompt.size();
    for (size_t b = cps[k].byte; b < end; ++b) space[b] = true;
  }
  const int64_t P = enc.prompt_len;
  for (int64_t i = 1; i < P && i < static_cast<int64_t>(enc.token_types.size()); ++i) {
    if (enc.token_types[i] != enc.token_types[i - 1] && enc.offsets[i].end > enc.offsets[i].begin)
      starts.push_back(static_cast<size_t>(enc.offsets[i].begin));
  }
  std::sort(starts.begin(), starts.end());
  auto unit_of = [&](size_t byte) {
    return std::upper_bound(starts.begin(), starts.end(), byte) - starts.begin();
  };
  std::vector<Segment> out;
  std::ptrdiff_t unit = -1;  // of the open segment (-1: none open)
  for (int64_t i = 0; i < P; ++i) {
    const ByteSpan s = enc.offsets[static_cast<size_t>(i)];
    if (!enc.explain_mask[static_cast<size_t>(i)]) {
      unit = -1;
      continue;
    }
    if (s.end <= s.begin) {  // a special token: a segment of its own
      out.push_back({i, i + 1, s});
      unit = -1;
      continue;
    }
    int64_t first = s.begin, last = s.end;  // the token's bytes without surrounding whitespace
    while (first < s.end && space[static_cast<size_t>(first)]) ++first;
    while (last > first && space[static_cast<size_t>(last - 1)]) --last;
    const bool blank = first == s.end;
    const std::ptrdiff_t u = unit_of(static_cast<size_t>(blank ? s.begin : first));
    if (unit >= 0 && u == unit) {
      Segment& g = out.back();
      g.end = i + 1;
      if (!blank) {
        if (g.span.end <= g.span.begin) g.span.begin = first;  // only blank tokens so far
        g.span.end = std::max(g.span.end, last);
      }
      continue;
    }
    out.push_back({i, i + 1, blank ? ByteSpan{s.begin, s.begin} : ByteSpan{first, last}});
    unit = u;
  }
  return out;
}

int64_t explained_prompt_positions(const Encoded& enc) {
  int64_t n = 0;
  for (int64_t i = 0; i < enc.prompt_len; ++i)
    n += enc.explain_mask[static_cast<size_t>(i)] ? 1 : 0;
  return n;
}

}  // namespace

std::string Granularity::name() const {
  switch (level) {
    case Level::kToken:
      return "token";
    case Level::kWord:
      return "word";
    case Level::kSentence:
      return "sentence";
    case Level::kParagraph:
      return "paragraph";
    case Level::kRegex:
      return "regex:" + pattern;
    case Level::kAuto:
      return "auto:" + std::to_string(max_segments);
  }
  return "token";
}

Granularity parse_granularity(const std::string& text) {
  Granularity g;
  if (text == "token") return g;
  if (text == "word" || text == "sentence" || text == "paragraph") {
    g.level = text == "word"       ? Level::kWord
              : text == "sentence" ? Level::kSentence
                                   : Level::kParagraph;
    return g;
  }
  if (text.rfind("regex:", 0) == 0) {
    g.level = Level::kRegex;
    g.pattern = text.substr(6);
    XAI_CHECK(!g.pattern.empty(), "granularity 'regex:' needs a pattern (e.g. regex:[,;])");
    try {
      text::Regex check(g.pattern);
    } catch (const std::exception& e) {
      throw Error(str_cat("granularity '", text, "': ", e.what()));
    }
    return g;
  }
  if (text.rfind("auto:", 0) == 0) {
    g.level = Level::kAuto;
    const std::string n = text.substr(5);
    const bool digits = !n.empty() && n.size() < 10 && std::all_of(n.begin(), n.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    XAI_CHECK(digits && std::stoll(n) >= 1, "granularity '", text,
              "': auto needs the most segments wanted, a whole number >= 1 (e.g. auto:30)");
    g.max_segments = std::stoll(n);
    return g;
  }
  throw Error(str_cat("granularity '", text,
                      "' is not one of token, word, sentence, paragraph, regex:<pattern>, "
                      "auto:<N>"));
}

Segmentation make_segments(const std::string& prompt, const Encoded& sample, const Granularity& g) {
  if (g.token()) return {"token", {}};
  XAI_CHECK(!sample.image(), "granularity '", g.name(),
            "' groups the tokens of a text; an image is explained per patch (HINT: granularity: "
            "token)");
  XAI_CHECK(prompt.size() < (size_t{1} << 24), "granularity '", g.name(), "': the prompt has ",
            prompt.size(), " bytes; segments are stored for prompts under 16 MiB");
  XAI_CHECK(sample.offsets.size() == static_cast<size_t>(sample.size()) &&
                sample.explain_mask.size() == static_cast<size_t>(sample.size()),
            "internal: segments need the sample's offsets and explain mask");
  const std::vector<CodePoint> cps = code_points(prompt);
  switch (g.level) {
    case Level::kWord:
      return {"word", group(prompt, sample, cps, word_starts(cps))};
    case Level::kSentence:
      return {"sentence", group(prompt, sample, cps, sentence_starts(cps, false))};
    case Level::kParagraph:
      return {"paragraph", group(prompt, sample, cps, sentence_starts(cps, true))};
    case Level::kRegex:
      return {g.name(), group(prompt, sample, cps, pattern_starts(prompt, g.pattern))};
    case Level::kAuto: {
      if (explained_prompt_positions(sample) <= g.max_segments) return {"token", {}};
      Segmentation s;
      for (Level level : {Level::kWord, Level::kSentence, Level::kParagraph}) {
        Granularity at;
        at.level = level;
        s = make_segments(prompt, sample, at);
        if (static_cast<int64_t>(s.segments.size()) <= g.max_segments) break;
      }
      return s;
    }
    case Level::kToken:
      break;
  }
  return {"token", {}};
}

}  // namespace xai
