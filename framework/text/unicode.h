// UTF-8 and Unicode character helpers for the tokenizer: decoding, character classes with the
// meaning the Hugging Face tokenizers (Rust) give them, and the GPT-2 byte <-> character map.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xai::text {

// Decodes the code point that starts at s[i] and advances i past it. The input must be valid
// UTF-8 (every string inside the pipeline is; see sanitize_utf8 in normalized_string.h).
inline char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    char32_t c = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    i += 2;
    return c;
  }
  if (b0 < 0xF0) {
    char32_t c = ((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                 (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    i += 3;
    return c;
  }
  char32_t c = ((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
               ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
               (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  i += 4;
  return c;
}

// Number of bytes of the UTF-8 sequence whose lead byte is b (1 for continuation bytes).
inline size_t utf8_length(unsigned char b) {
  if (b < 0xC0) return 1;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  return 4;
}

inline size_t utf8_length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

void append_utf8(std::string& out, char32_t c);

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t valid_utf8_length(std::string_view s, size_t i);

// Replaces invalid UTF-8 the way Rust's String::from_utf8_lossy does: each maximal invalid
// subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// Character classes, as Rust's char methods define them (the Hugging Face library is Rust).
bool is_whitespace(char32_t c);       // char::is_whitespace (White_Space property)
bool is_alphanumeric(char32_t c);     // char::is_alphanumeric, approximated as L* or N*
bool is_numeric(char32_t c);          // char::is_numeric: Nd, Nl, No
bool is_punctuation(char32_t c);      // ASCII punctuation or any P* category (BERT's definition)
bool is_mark(char32_t c);             // Mn, Mc, Me
bool is_mark_nonspacing(char32_t c);  // Mn
bool is_other(char32_t c);            // Cc, Cf, Co, Cs (the Rust crate HF uses leaves out Cn)
bool is_chinese_char(char32_t c);     // the CJK blocks BERT isolates

// Full lowercase mapping (Rust char::to_lowercase): appends one or more code points.
void append_lowercase(std::string& out, char32_t c);

// GPT-2's reversible byte -> printable character map ('Ġ' for a space) and its inverse.
struct ByteLevelMap {
  std::array<std::string, 256> byte_to_utf8;  // UTF-8 of the character standing for each byte
  std::array<char32_t, 256> byte_to_char;
  // Inverse, indexed by code point (all mapped characters are below U+0200); -1 when unmapped.
  std::array<int16_t, 512> char_to_byte;
};
const ByteLevelMap& byte_level_map();

}  // namespace xai::text
