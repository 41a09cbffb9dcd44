// PCRE2 wrapper for the regular expressions in tokenizer.json (written for Oniguruma, which the
// Hugging Face library uses); compiled once, matched from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xai::text {

// [begin, end) byte ranges.
using MatchList = std::vector<std::pair<size_t, size_t>>;

class Regex {
 public:
  // Compiles an Oniguruma (Ruby syntax) pattern with PCRE2 (UTF, Unicode properties, ^/$ at line
  // boundaries). \s, \w and \h are rewritten to Oniguruma's meaning (\s also matches U+0085, \w
  // also matches marks and all numbers, \h is a hex digit). Throws xai::Error on a bad pattern.
  explicit Regex(const std::string& pattern);

  // All non-overlapping matches in s (valid UTF-8), left to right. Like Oniguruma's find_iter,
  // an empty match right where the previous match ended is skipped.
  void find_all(std::string_view s, MatchList& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

// Rewrites the Oniguruma escapes that PCRE2 reads differently (exposed for tests).
std::string oniguruma_to_pcre2(const std::string& pattern);

}  // namespace xai::text
