// Bad tokenizer.json files: every error is one line that names the file and the component or
// field path (files written by tests/reference/tokenizer_fixtures.py; the library rejects or
// lacks the same things).
#include <initializer_list>

#include "framework/common/error.h"
#include "tests/unit/text/golden.h"

namespace xai {
namespace {

using testing::fixture_dir;

std::string bad(const std::string& name) { return fixture_dir("bad") + "/" + name; }

// The message of the xai::Error that loading path throws ("" when it loads).
std::string load_error(const std::string& path) {
  try {
    Tokenizer::from_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string text_error(const std::string& json, const std::string& source = "inline.json") {
  try {
    Tokenizer::from_json_text(json, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The message is one line and holds every part.
void expect_message(const std::string& message, std::initializer_list<const char*> parts) {
  EXPECT_FALSE(message.empty()) << "no error was thrown";
  EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
  for (const char* part : parts) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "message lacks \"" << part << "\": " << message;
  }
}

TEST(TokenizerErrors, ValidMinimalFileLoads) {
  const Tokenizer tok = Tokenizer::from_file(bad("valid_minimal.json"));
  EXPECT_EQ(tok.encode("ab", false).ids, std::vector<int64_t>{*tok.token_to_id("ab")});
}

TEST(TokenizerErrors, MissingFileNamesThePath) {
  expect_message(load_error(bad("no_such_file.json")), {"no_such_file.json", "cannot open"});
}

TEST(TokenizerErrors, SyntaxErrorNamesFileAndLine) {
  expect_message(load_error(bad("syntax_error.json")),
                 {"bad/syntax_error.json", "invalid JSON", "line 3"});
}

TEST(TokenizerErrors, MissingModelNamesTheField) {
  expect_message(load_error(bad("missing_model.json")),
                 {"bad/missing_model.json", "missing field 'model'"});
  expect_message(load_error(bad("missing_vocab.json")),
                 {"bad/missing_vocab.json", "missing field 'model.vocab'"});
  expect_message(load_error(bad("added_token_missing_id.json")),
                 {"bad/added_token_missing_id.json", "missing field 'added_tokens[0].id'"});
}

// A fuzzer finding: one token id of 1e9 in a vocabulary of two made the id table allocate
// 32 GB. Ids may have gaps, but not that far beyond the entries.
TEST(TokenizerErrors, ATokenIdFarBeyondTheVocabularyIsAnErrorNotAnAllocation) {
  expect_message(
      text_error(R"({"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 1000000000},)"
                 R"( "unk_token": "a"}})"),
      {"inline.json: model.vocab.b: token id 1000000000 is far beyond the vocabulary's 2 entries"});
  // Gaps of an ordinary size still load.
  EXPECT_EQ(text_error(R"({"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 5000},)"
                       R"( "unk_token": "a"}})"),
            "");
}

TEST(TokenizerErrors, WrongFieldTypeNamesTheFieldPath) {
  expect_message(load_error(bad("merge_wrong_type.json")),
                 {"bad/merge_wrong_type.json", "model.merges[1]"});
  expect_message(load_error(bad("vocab_wrong_type.json")),
                 {"bad/vocab_wrong_type.json", "model.vocab: expected an object, got an array"});
  expect_message(load_error(bad("byte_fallback_wrong_type.json")),
                 {"bad/byte_fallback_wrong_type.json",
                  "model.byte_fallback: expected true or false, got a string"});
  expect_message(text_error(R"({"model": 5})"),
                 {"inline.json: model: expected an object, got an integer"});
  expect_message(text_error("[1, 2]"), {"inline.json: (root): expected an object"});
}

TEST(TokenizerErrors, MergeWithUnknownTokenNamesMergeAndToken) {
  expect_message(load_error(bad("merge_unknown_token.json")),
                 {"bad/merge_unknown_token.json", "model.merges[1]", "'zz' is not in model.vocab"});
}

TEST(TokenizerErrors, UnsupportedComponentsNameTypeAndPlace) {
  expect_message(load_error(bad("unigram_model.json")),
                 {"bad/unigram_model.json", "model type 'Unigram' is not supported", "BPE"});
  expect_message(
      load_error(bad("precompiled_normalizer.json")),
      {"bad/precompiled_normalizer.json", "normalizer type 'Precompiled' is not supported",
       "normalizer.normalizers[0]", "supported: Sequence"});
  expect_message(load_error(bad("unicode_scripts_pre_tokenizer.json")),
                 {"bad/unicode_scripts_pre_tokenizer.json",
                  "pre_tokenizer type 'UnicodeScripts' is not supported"});
  expect_message(load_error(bad("ctc_decoder.json")),
                 {"bad/ctc_decoder.json", "decoder type 'CTC' is not supported"});
}

TEST(TokenizerErrors, BadSplitSettingsNameTheField) {
  expect_message(
      load_error(bad("bad_split_regex.json")),
      {"bad/bad_split_regex.json", "pre_tokenizer.pattern.Regex", "(unclosed", "does not compile"});
  expect_message(load_error(bad("bad_split_behavior.json")),
                 {"bad/bad_split_behavior.json", "pre_tokenizer.behavior", "'Sideways'"});
}

TEST(TokenizerErrors, TemplateWithUndeclaredSpecialTokenNamesIt) {
  expect_message(load_error(bad("template_unknown_special.json")),
                 {"bad/template_unknown_special.json", "post_processor.single[0].SpecialToken.id",
                  "'<s>' is not in special_tokens"});
}

TEST(TokenizerErrors, UnknownIdInIdToTokenThrows) {
  const Tokenizer tok = Tokenizer::from_file(bad("valid_minimal.json"));
  std::string message;
  try {
    tok.id_to_token(tok.vocab_size());
  } catch (const Error& e) {
    message = e.what();
  }
  expect_message(message, {"valid_minimal.json", "not in the vocabulary"});
}

}  // namespace
}  // namespace xai
