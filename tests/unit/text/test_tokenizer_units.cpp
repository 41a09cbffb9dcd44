// The pieces of the tokenizer that can be checked alone: split behaviours, the byte-level map,
// regex semantics, offsets of characters split into byte tokens, invalid UTF-8, the API around
// encode(), thread safety and long inputs.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "framework/common/error.h"
#include "framework/text/components.h"
#include "tests/unit/test_util.h"
#include "tests/unit/text/golden.h"

namespace xai {
namespace {

using testing::fixture_dir;
using testing::read_json;

Tokenizer load(const std::string& name) {
  return Tokenizer::from_file(fixture_dir(name) + "/tokenizer.json");
}

std::vector<std::string> split_texts(const std::string& input, const std::string& delimiter,
                                     text::SplitBehavior behavior) {
  const text::Piece root = text::make_root_piece(input);
  text::MatchList matches;
  text::find_literal(root.text, delimiter, matches);
  std::vector<text::Segment> segs;
  text::segments_from_matches(matches, root.text.size(), segs);
  std::vector<text::Piece> out;
  text::split_piece(root, segs, behavior, out);
  std::vector<std::string> texts;
  for (const text::Piece& p : out) texts.push_back(p.text);
  return texts;
}

// The example of the Hugging Face documentation for SplitDelimiterBehavior.
TEST(SplitBehavior, MatchesTheLibraryDocumentation) {
  using B = text::SplitBehavior;
  const std::string s = "the-final--countdown";
  using V = std::vector<std::string>;
  EXPECT_EQ(split_texts(s, "-", B::kRemoved), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split_texts(s, "-", B::kIsolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_texts(s, "-", B::kMergedWithPrevious), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_texts(s, "-", B::kMergedWithNext), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_texts(s, "-", B::kContiguous), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(SplitBehavior, SplitPiecesKeepTheirOriginalSpans) {
  text::Piece root = text::make_root_piece("né-à");
  text::MatchList matches;
  text::find_literal(root.text, "-", matches);
  std::vector<text::Segment> segs;
  text::segments_from_matches(matches, root.text.size(), segs);
  std::vector<text::Piece> out;
  text::split_piece(root, segs, text::SplitBehavior::kRemoved, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(text::original_span(out[0], 0, out[0].text.size()).end, 3);  // "né" is 3 bytes
  EXPECT_EQ(text::original_span(out[1], 0, out[1].text.size()).begin, 4);
  EXPECT_EQ(out[1].original_shift, 4);
}

TEST(ByteLevelMap, MapsEveryByteToOneCharacterAndBack) {
  const text::ByteLevelMap& m = text::byte_level_map();
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = m.byte_to_char[b];
    EXPECT_TRUE(seen.insert(c).second) << "byte " << b << " shares its character";
    ASSERT_LT(c, m.char_to_byte.size());
    EXPECT_EQ(m.char_to_byte[c], b);
    std::string utf8;
    text::append_utf8(utf8, c);
    EXPECT_EQ(m.byte_to_utf8[b], utf8);
  }
  EXPECT_EQ(m.byte_to_char[' '], 0x120u);   // 'Ġ'
  EXPECT_EQ(m.byte_to_char['\n'], 0x10Au);  // 'Ċ'
  EXPECT_EQ(m.byte_to_char['A'], static_cast<char32_t>('A'));
  EXPECT_EQ(m.byte_to_char[0xE9], 0xE9u);  // printable Latin-1 maps to itself
}

TEST(ByteLevelBpe, ByteTokensOfOneCharacterAllCoverThatCharacter) {
  const Tokenizer tok = load("byte_level_bpe");
  const std::string input =
      "a\xE4\xBD\xA0"
      "b";  // "a你b": 你 is bytes [1, 4)
  const Encoding enc = tok.encode(input, false);
  int covering = 0;
  for (size_t i = 0; i < enc.size(); ++i) {
    const ByteSpan s = enc.offsets[i];
    const bool is_a = s == ByteSpan{0, 1}, is_b = s == ByteSpan{4, 5};
    const bool is_char = s == ByteSpan{1, 4};
    const bool merged = s == ByteSpan{0, 4} || s == ByteSpan{1, 5};
    EXPECT_TRUE(is_a || is_b || is_char || merged) << "token " << enc.tokens[i];
    covering += is_char;
  }
  EXPECT_GE(covering, 2) << "the test wants 你 split into several byte tokens";
  EXPECT_EQ(tok.decode(enc.ids), input);
}

TEST(Llama2Metaspace, ByteFallbackTokensCoverTheirWholeCharacter) {
  const Tokenizer tok = load("llama2_metaspace");
  const std::string input = "\xE6\x97\xA5\xE6\x9C\xAC";  // 日本, not in the vocabulary
  const Encoding enc = tok.encode(input, false);
  int byte_tokens = 0;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc.tokens[i].rfind("<0x", 0) != 0) continue;
    ++byte_tokens;
    const ByteSpan s = enc.offsets[i];
    EXPECT_TRUE(s == (ByteSpan{0, 3}) || s == (ByteSpan{3, 6})) << "token " << enc.tokens[i];
  }
  EXPECT_EQ(byte_tokens, 6);
  EXPECT_EQ(tok.decode(enc.ids), input);
}

// Documented in tokenizer.h: each invalid byte is read as U+FFFD spanning that one byte.
TEST(Tokenizer, InvalidUtf8BytesBecomeReplacementCharacters) {
  const std::string input =
      "ab\xFF"
      "cd\xE4\xBD";  // a stray byte and a truncated sequence
  const std::string replacement = "\xEF\xBF\xBD";
  for (const std::string name : {"byte_level_bpe", "llama3_style", "llama2_metaspace",
                                 "wordpiece_bert", "metaspace_pretok", "word_level"}) {
    SCOPED_TRACE(name);
    const Tokenizer tok = load(name);
    const Encoding enc = tok.encode(input, true);
    for (const ByteSpan& s : enc.offsets) {
      EXPECT_LE(0, s.begin);
      EXPECT_LE(s.begin, s.end);
      EXPECT_LE(s.end, static_cast<int64_t>(input.size()));
    }
  }
  const Tokenizer tok = load("byte_level_bpe");
  const Encoding enc = tok.encode(input, false);
  EXPECT_EQ(tok.decode(enc.ids), "ab" + replacement + "cd" + replacement + replacement);
  for (size_t i = 0; i < enc.size(); ++i) {
    const ByteSpan s = enc.offsets[i];
    if (s.begin == 2) {
      EXPECT_EQ(s, (ByteSpan{2, 3})) << enc.tokens[i];
    }
    if (s.begin >= 5) {
      EXPECT_EQ(s.end - s.begin, 1) << enc.tokens[i];
    }
  }
}

TEST(Regex, ClassesFollowOniguruma) {
  text::MatchList m;
  text::Regex space(R"(\s+)");
  space.find_all(
      "a\xC2\x85"
      "b",
      m);  // U+0085 NEL is \s in Oniguruma
  EXPECT_EQ(m, (text::MatchList{{1, 3}}));
  text::Regex word(R"(\w+)");
  word.find_all("e\xCC\x81\xC2\xB2 x", m);  // e + combining acute + superscript two
  EXPECT_EQ(m, (text::MatchList{{0, 5}, {6, 7}}));
  text::Regex not_space(R"([^\s]+)");
  not_space.find_all(
      "a\xC2\x85"
      "b",
      m);
  EXPECT_EQ(m, (text::MatchList{{0, 1}, {3, 4}}));
  EXPECT_EQ(text::oniguruma_to_pcre2(R"(\w[\s\d]\S\\s)"),
            R"([\p{L}\p{M}\p{N}\p{Pc}][\s\x{85}\d][^\s\x{85}]\\s)");
}

TEST(Regex, EmptyMatchRightAfterAMatchIsSkipped) {
  text::MatchList m;
  text::Regex("x*").find_all("axb", m);
  EXPECT_EQ(m, (text::MatchList{{0, 0}, {1, 2}, {3, 3}}));
}

TEST(Tokenizer, VocabSizeMatchesMetaJson) {
  const nlohmann::json meta = read_json(fixture_dir("byte_level_bpe") + "/meta.json");
  EXPECT_EQ(load("byte_level_bpe").vocab_size(), meta.at("vocab_size").get<int64_t>());
}

TEST(Tokenizer, BosAndEosComeFromThePostProcessor) {
  const Tokenizer gpt2 = load("byte_level_bpe");
  EXPECT_FALSE(gpt2.bos_id().has_value());
  EXPECT_FALSE(gpt2.eos_id().has_value());
  const Tokenizer llama3 = load("llama3_style");
  EXPECT_EQ(llama3.bos_id(), llama3.token_to_id("<|begin_of_text|>"));
  EXPECT_FALSE(llama3.eos_id().has_value());
  const Tokenizer llama2 = load("llama2_metaspace");
  EXPECT_EQ(llama2.bos_id(), llama2.token_to_id("<s>"));
  const Tokenizer bert = load("wordpiece_bert");
  EXPECT_EQ(bert.bos_id(), bert.token_to_id("[CLS]"));
  EXPECT_EQ(bert.eos_id(), bert.token_to_id("[SEP]"));
  const Tokenizer meta = load("metaspace_pretok");
  EXPECT_EQ(meta.eos_id(), meta.token_to_id("</s>"));
}

TEST(Tokenizer, SpecialFlagsMarkAddedSpecialAndTemplateTokens) {
  const Tokenizer tok = load("llama3_style");
  const Encoding enc = tok.encode("hi<|eot_id|>there", true);
  ASSERT_GE(enc.size(), 3u);
  for (size_t i = 0; i < enc.size(); ++i) {
    const bool special = enc.tokens[i] == "<|begin_of_text|>" || enc.tokens[i] == "<|eot_id|>";
    EXPECT_EQ(enc.special[i], special ? 1 : 0) << enc.tokens[i];
  }
}

TEST(Tokenizer, EveryIdMapsToATokenAndBack) {
  for (const std::string name : {"byte_level_bpe", "llama2_metaspace", "wordpiece_bert"}) {
    SCOPED_TRACE(name);
    const Tokenizer tok = load(name);
    for (int64_t id = 0; id < tok.vocab_size(); ++id)
      EXPECT_EQ(tok.token_to_id(tok.id_to_token(id)), id);
    EXPECT_FALSE(tok.token_to_id("no such token at all").has_value());
  }
}

TEST(Tokenizer, ConcurrentEncodesAgreeWithSequentialOnes) {
  const Tokenizer tok = load("byte_level_bpe");
  const nlohmann::json golden = read_json(fixture_dir("byte_level_bpe") + "/golden.json");
  std::vector<std::string> texts;
  for (const auto& c : golden.at("cases")) texts.push_back(c.at("text").get<std::string>());
  std::vector<std::vector<int64_t>> want;
  for (const std::string& t : texts) want.push_back(load("byte_level_bpe").encode(t).ids);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < texts.size(); ++i)
          mismatches[w] +=
              tok.encode(texts[(i + w) % texts.size()]).ids != want[(i + w) % texts.size()];
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < 4; ++w) EXPECT_EQ(mismatches[w], 0);
}

// With no pre-tokenizer the whole text is one BPE word: merging must not be quadratic.
TEST(Llama2Metaspace, LongTextIsOneWordAndStillEncodesFastAndRoundTrips) {
  const Tokenizer tok = load("llama2_metaspace");
  std::string input;
  while (input.size() < 200000) input += "Mara lives in Oslo and Ben works in Lima. ";
  const auto start = std::chrono::steady_clock::now();
  const Encoding enc = tok.encode(input, false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0);
  EXPECT_EQ(tok.decode(enc.ids), input);
  EXPECT_EQ(enc.offsets.back().end, static_cast<int64_t>(input.size()));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The Python library writes merges as ["a", "b"]; older files hold "a b". Both load the same.
TEST(BpeModel, StringAndPairMergesGiveTheSameTokens) {
  const std::string path = fixture_dir("byte_level_bpe") + "/tokenizer.json";
  nlohmann::json j = nlohmann::json::parse(read_text(path));
  ASSERT_TRUE(j.at("model").at("merges").at(0).is_array());
  for (auto& m : j["model"]["merges"])
    m = m.at(0).get<std::string>() + " " + m.at(1).get<std::string>();
  const Tokenizer pairs = Tokenizer::from_file(path);
  const Tokenizer strings = Tokenizer::from_json_text(j.dump(), "string_merges.json");
  const nlohmann::json golden = read_json(fixture_dir("byte_level_bpe") + "/golden.json");
  for (const auto& c : golden.at("cases")) {
    const std::string t = c.at("text").get<std::string>();
    EXPECT_EQ(strings.encode(t).ids, pairs.encode(t).ids) << testing::escaped(t);
  }
}

// Files written before prepend_scheme existed say "add_prefix_space" instead.
TEST(MetaspacePreTokenizer, OlderAddPrefixSpaceFieldMeansAlwaysOrNever) {
  const std::string source = "inline";
  auto pieces_of = [&](const char* json) {
    const nlohmann::json j = nlohmann::json::parse(json);
    const auto pre = text::make_pre_tokenizer(text::JsonNode(j, "pre_tokenizer", source));
    std::vector<text::Piece> pieces{text::make_root_piece("Hey  you")};
    pre->pre_tokenize(pieces);
    std::vector<std::string> texts;
    for (const text::Piece& p : pieces) texts.push_back(p.text);
    return texts;
  };
  EXPECT_EQ(pieces_of(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true})"),
            pieces_of(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"})"));
  EXPECT_EQ(pieces_of(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": false})"),
            pieces_of(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"})"));
}

// Some older files leave out the model "type"; it follows from the fields.
TEST(Tokenizer, ModelTypeIsInferredWhenMissing) {
  nlohmann::json j = nlohmann::json::parse(read_text(fixture_dir("bad") + "/valid_minimal.json"));
  j["model"].erase("type");
  const Tokenizer tok = Tokenizer::from_json_text(j.dump(), "no_type.json");
  EXPECT_EQ(tok.encode("ab").ids, std::vector<int64_t>{*tok.token_to_id("ab")});
}

// Not a check: prints encode throughput (run with --gtest_also_run_disabled_tests).
TEST(Tokenizer, UnkAndPadComeFromTokenizerConfigElseTheModelsUnkToken) {
  // tokenizer.json alone: the model's unk_token (Llama 2 "<unk>", BERT "[UNK]"); none for GPT-2.
  const auto unk_of = [](const std::string& name) {
    return Tokenizer::from_file(fixture_dir(name) + "/tokenizer.json").unk_id();
  };
  const Tokenizer llama = Tokenizer::from_file(fixture_dir("llama2_metaspace") + "/tokenizer.json");
  EXPECT_EQ(unk_of("llama2_metaspace"), llama.token_to_id("<unk>"));
  ASSERT_TRUE(unk_of("llama2_metaspace").has_value());
  const Tokenizer bert = Tokenizer::from_file(fixture_dir("wordpiece_bert") + "/tokenizer.json");
  EXPECT_EQ(unk_of("wordpiece_bert"), bert.token_to_id("[UNK]"));
  EXPECT_FALSE(unk_of("byte_level_bpe").has_value());
  EXPECT_FALSE(llama.pad_id().has_value());
  // tokenizer_config.json beside it (as save_pretrained writes it) wins, in both spellings.
  const auto with_config = [](const std::string& name, const std::string& config) {
    test::TempDir dir;
    std::filesystem::copy_file(fixture_dir(name) + "/tokenizer.json",
                               dir.path() + "/tokenizer.json");
    std::ofstream(dir.path() + "/tokenizer_config.json") << config;
    return Tokenizer::from_file(dir.path() + "/tokenizer.json");
  };
  const Tokenizer gpt2 =
      with_config("byte_level_bpe",
                  R"({"unk_token": "<|endoftext|>", "pad_token": {"content": "<|endoftext|>"}})");
  ASSERT_TRUE(gpt2.unk_id().has_value());
  EXPECT_EQ(gpt2.unk_id(), gpt2.token_to_id("<|endoftext|>"));
  EXPECT_EQ(gpt2.pad_id(), gpt2.token_to_id("<|endoftext|>"));
  const Tokenizer b2 =
      with_config("wordpiece_bert", R"({"unk_token": "[MASK]", "pad_token": "[PAD]"})");
  EXPECT_EQ(b2.unk_id(), b2.token_to_id("[MASK]"));
  EXPECT_EQ(b2.pad_id(), b2.token_to_id("[PAD]"));
  // The mask token: BERT's [MASK] and RoBERTa's <mask> by name, none for GPT-2 and Llama; the
  // config's mask_token wins.
  EXPECT_EQ(bert.mask_id(), bert.token_to_id("[MASK]"));
  ASSERT_TRUE(bert.mask_id().has_value());
  const Tokenizer roberta = load("roberta_style");
  EXPECT_EQ(roberta.mask_id(), roberta.token_to_id("<mask>"));
  ASSERT_TRUE(roberta.mask_id().has_value());
  EXPECT_FALSE(llama.mask_id().has_value());
  EXPECT_FALSE(load("byte_level_bpe").mask_id().has_value());
  EXPECT_EQ(with_config("wordpiece_bert", R"({"mask_token": "[PAD]"})").mask_id(),
            bert.token_to_id("[PAD]"));
  test::expect_error([&] { with_config("wordpiece_bert", "{not json"); },
                     {"tokenizer_config.json: invalid JSON"});
  test::expect_error([&] { with_config("wordpiece_bert", R"({"unk_token": 3})"); },
                     {"tokenizer_config.json: unk_token must be a string"});
}

TEST(TokenizerSpeed, DISABLED_EncodeLongParagraph) {
  const nlohmann::json golden = read_json(fixture_dir("byte_level_bpe") + "/golden.json");
  std::string paragraph;
  for (const auto& c : golden.at("cases"))
    if (c.at("text").get<std::string>().size() > paragraph.size()) paragraph = c.at("text");
  for (const std::string name :
       {"byte_level_bpe", "llama3_style", "llama2_metaspace", "wordpiece_bert"}) {
    const Tokenizer tok = load(name);
    size_t tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 2000; ++i) tokens += tok.encode(paragraph).size();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-18s %zu-byte paragraph: %.0f tokens/s, %.1f MB/s\n", name.c_str(),
                paragraph.size(), tokens / s, 2000.0 * paragraph.size() / s / 1e6);
  }
}

}  // namespace
}  // namespace xai
