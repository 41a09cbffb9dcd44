// Helpers for the tokenizer tests: fixture paths and comparison against golden.json files that
// tests/reference/tokenizer_fixtures.py wrote with the Hugging Face tokenizers library.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/text/tokenizer.h"

namespace xai::testing {

inline std::string fixture_dir(const std::string& name) {
  return std::string(XAI_SOURCE_DIR) + "/tests/fixtures/tokenizers/" + name;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path
                         << " (HINT: run tests/reference/tokenizer_fixtures.py)";
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

// Printable form of a test string for failure messages.
inline std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.size() > 120 ? out.substr(0, 117) + "..." : out;
}

inline std::vector<ByteSpan> spans_from_flat(const nlohmann::json& flat) {
  std::vector<ByteSpan> out;
  for (size_t i = 0; i + 1 < flat.size(); i += 2)
    out.push_back({flat[i].get<int64_t>(), flat[i + 1].get<int64_t>()});
  return out;
}

inline std::string show(const ByteSpan& s) {
  return "[" + std::to_string(s.begin) + ", " + std::to_string(s.end) + ")";
}

// Checks one encoding against golden ids, offsets and (optionally) tokens.
inline void expect_encoding(const Encoding& enc, const std::vector<int64_t>& ids,
                            const std::vector<ByteSpan>& offsets,
                            const std::vector<std::string>* tokens) {
  EXPECT_EQ(enc.ids, ids);
  if (tokens != nullptr) {
    EXPECT_EQ(enc.tokens, *tokens);
  }
  ASSERT_EQ(enc.offsets.size(), offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(enc.offsets[i], offsets[i]) << "token " << i << " '" << enc.tokens[i] << "': got "
                                          << show(enc.offsets[i]) << ", want " << show(offsets[i]);
  }
  EXPECT_EQ(enc.tokens.size(), enc.ids.size());
  EXPECT_EQ(enc.special.size(), enc.ids.size());
}

// Compares encode() and decode() with every case of <name>/golden.json: ids and byte offsets
// exactly for add_special_tokens true and false, tokens for true, and the decoded text.
inline void expect_matches_golden(const std::string& name) {
  const Tokenizer tok = Tokenizer::from_file(fixture_dir(name) + "/tokenizer.json");
  const nlohmann::json golden = read_json(fixture_dir(name) + "/golden.json");
  EXPECT_EQ(tok.vocab_size(), golden.at("vocab_size").get<int64_t>());
  const auto& cases = golden.at("cases");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    SCOPED_TRACE("text \"" + escaped(text) + "\"");
    for (const std::string prefix : {"", "plain_"}) {
      SCOPED_TRACE(prefix.empty() ? "add_special_tokens=true" : "add_special_tokens=false");
      const auto ids = c.at(prefix + "ids").get<std::vector<int64_t>>();
      const auto tokens = c.value("tokens", std::vector<std::string>());
      const Encoding enc = tok.encode(text, prefix.empty());
      expect_encoding(enc, ids, spans_from_flat(c.at(prefix + "offsets")),
                      prefix.empty() ? &tokens : nullptr);
      const std::string decoded = c.value(prefix + "decoded", text);
      EXPECT_EQ(tok.decode(ids, true), decoded);
      EXPECT_EQ(tok.decode(ids, false), c.value(prefix + "decoded_with_special", decoded));
    }
  }
}

// decode(encode(text, false)) == text for every golden string (byte-level tokenizers).
inline void expect_round_trip(const std::string& name) {
  const Tokenizer tok = Tokenizer::from_file(fixture_dir(name) + "/tokenizer.json");
  const nlohmann::json golden = read_json(fixture_dir(name) + "/golden.json");
  for (const auto& c : golden.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    SCOPED_TRACE("text \"" + escaped(text) + "\"");
    EXPECT_EQ(tok.decode(tok.encode(text, false).ids, false), text);
  }
}

}  // namespace xai::testing
