// PCRE2 wrapper; see regex.h.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "framework/text/regex.h"

#include <pcre2.h>

#include "framework/common/error.h"
#include "framework/text/unicode.h"

namespace xai::text {

namespace {

constexpr const char* kWordClass = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
constexpr const char* kSpaceClass = "\\s\\x{85}";
constexpr const char* kHexClass = "0-9a-fA-F";

}  // namespace

std::string oniguruma_to_pcre2(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  int class_depth = 0;
  size_t class_start = 0;  // index in pattern just after the '[' (and '^') opening the class
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      const char* cls = e == 'w' || e == 'W'   ? kWordClass
                        : e == 's' || e == 'S' ? kSpaceClass
                        : e == 'h' || e == 'H' ? kHexClass
                                               : nullptr;
      const bool negated = e == 'W' || e == 'S' || e == 'H';
      if (cls != nullptr && class_depth == 0) {
        out += negated ? "[^" : "[";
        out += cls;
        out += "]";
      } else if (cls != nullptr && !negated) {
        out += cls;
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (c == '[') {
      if (class_depth > 0 && i + 1 < pattern.size() && pattern[i + 1] == ':') {
        const size_t close = pattern.find(":]", i + 2);
        if (close != std::string::npos) {  // POSIX class such as [:alpha:]
          out.append(pattern, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      ++class_depth;
      out += c;
      class_start = i + 1;
      if (class_start < pattern.size() && pattern[class_start] == '^') {
        out += '^';
        ++i;
        ++class_start;
      }
      continue;
    }
    if (c == ']' && class_depth > 0 && i != class_start) --class_depth;
    out += c;
  }
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  const std::string translated = oniguruma_to_pcre2(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw Error(str_cat("regex '", pattern, "' does not compile (PCRE2: ",
                        reinterpret_cast<const char*>(message), " at offset ", error_offset, ")"));
  }
  auto holder = std::make_shared<Code>();
  holder->code = code;
  holder->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = std::move(holder);
}

void Regex::find_all(std::string_view s, MatchList& out) const {
  out.clear();
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= s.size()) {
    int rc =
        pcre2_match(code_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // very long runs: the interpreter has more room
      rc = pcre2_match(code_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       data.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error(str_cat("regex '", pattern_, "' failed on a ", s.size(),
                          "-byte input (PCRE2: ", reinterpret_cast<const char*>(message), ")"));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ov[0], end = ov[1];
    if (begin == end && have_last && last_end == end) {
      if (pos >= s.size()) break;
      pos += utf8_length(static_cast<unsigned char>(s[pos]));
      continue;
    }
    out.emplace_back(begin, end);
    have_last = true;
    last_end = end;
    pos = end;
  }
}

}  // namespace xai::text
