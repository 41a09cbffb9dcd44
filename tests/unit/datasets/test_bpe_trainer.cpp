// The byte-level BPE trainer: the tokenizer.json it writes loads in our engine, round-trips every
// toy text, keeps every toy city a single token, and is deterministic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "datasets/toy/toy_task.h"
#include "framework/text/bpe_trainer.h"
#include "framework/text/tokenizer.h"

namespace xai {
namespace {

std::vector<std::string> toy_texts(const std::string& split, int64_t n) {
  DatasetOptions o;
  o.split = split;
  o.limit = n;
  std::vector<std::string> texts;
  for (const Sample& s : read_all(*open_dataset("toy", o))) texts.push_back(s.prompt + s.target);
  return texts;
}

const std::string& toy_tokenizer_json() {
  static const std::string json = [] {
    BpeTrainerOptions o;
    o.vocab_size = 512;
    return train_byte_level_bpe(toy_texts("train", 2000), o);
  }();
  return json;
}

TEST(BpeTrainer, WritesTheRequestedVocabularyInHuggingFaceLayout) {
  const nlohmann::json j = nlohmann::json::parse(toy_tokenizer_json());
  EXPECT_EQ(j["model"]["type"], "BPE");
  // The toy corpus has few distinct words: merging stops once each is one token (472 < 512).
  EXPECT_LE(j["model"]["vocab"].size(), 512u);
  EXPECT_GT(j["model"]["vocab"].size(), 400u);
  EXPECT_EQ(j["model"]["merges"].size(), j["model"]["vocab"].size() - 257u);
  EXPECT_EQ(j["model"]["vocab"]["<|endoftext|>"], 0);
  EXPECT_EQ(j["model"]["vocab"]["!"], 1);    // byte symbols in code point order, as HF does
  EXPECT_EQ(j["model"]["vocab"]["Ġ"], 221);  // as in GPT-2-style HF tokenizers with one special
  EXPECT_EQ(j["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_TRUE(j["added_tokens"][0]["special"].get<bool>());
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["post_processor"]["type"], "TemplateProcessing");
}

TEST(BpeTrainer, IsDeterministicAndStopsAtTheRequestedSize) {
  BpeTrainerOptions o;
  o.vocab_size = 512;
  EXPECT_EQ(train_byte_level_bpe(toy_texts("train", 2000), o), toy_tokenizer_json());
  o.vocab_size = 300;
  const nlohmann::json j = nlohmann::json::parse(train_byte_level_bpe(toy_texts("train", 200), o));
  EXPECT_EQ(j["model"]["vocab"].size(), 300u);
  EXPECT_EQ(j["model"]["merges"].size(), 300u - 257u);
}

TEST(BpeTrainer, OurEngineRoundTripsEveryToyText) {
  const Tokenizer tok = Tokenizer::from_json_text(toy_tokenizer_json(), "trained");
  EXPECT_LE(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 0);
  for (const auto& split : {"train", "test"}) {
    for (const std::string& t : toy_texts(split, 500)) {
      const Encoding e = tok.encode(t, true);
      ASSERT_EQ(e.ids[0], 0);
      EXPECT_EQ(tok.decode(e.ids, /*skip_special_tokens=*/true), t);
      const Encoding plain = tok.encode(t, false);
      EXPECT_EQ(plain.size() + 1, e.size());
      EXPECT_EQ(plain.offsets.back().end, static_cast<int64_t>(t.size()));
    }
  }
  // Text the corpus never had still round-trips (every byte has a symbol).
  const std::string odd = "Zürich\tdoes 42 {weird} things\n\n";
  EXPECT_EQ(tok.decode(tok.encode(odd, false).ids), odd);
}

TEST(BpeTrainer, EveryCityAndNameIsOneTokenAfterASpace) {
  const Tokenizer tok = Tokenizer::from_json_text(toy_tokenizer_json(), "trained");
  for (const auto& c : toy::toy_cities()) {
    EXPECT_EQ(tok.encode(" " + c, false).size(), 1u) << c;
  }
  for (const auto& n : toy::toy_names()) {
    EXPECT_EQ(tok.encode(" " + n, false).size(), 1u) << n;
  }
}

TEST(BpeTrainer, WithoutBosUsesGpt2PostProcessing) {
  BpeTrainerOptions o;
  o.vocab_size = 300;
  o.bos_token = "";
  const std::string json = train_byte_level_bpe({"Mara lives in Oslo.", "Ben lives in Oslo."}, o);
  const Tokenizer tok = Tokenizer::from_json_text(json, "trained");
  EXPECT_FALSE(tok.bos_id().has_value());
  EXPECT_EQ(tok.decode(tok.encode("Mara lives in Oslo.", true).ids), "Mara lives in Oslo.");
  // Training stops when no pair is seen min_frequency times.
  EXPECT_LT(tok.vocab_size(), 300);
}

TEST(BpeTrainer, PrefixSpaceMakesTheFirstWordTheSameTokenAsElsewhere) {
  BpeTrainerOptions o;
  o.vocab_size = 512;
  o.add_prefix_space = true;
  const std::vector<std::string> texts = toy_texts("train", 1000);
  const Tokenizer tok = Tokenizer::from_json_text(train_byte_level_bpe(texts, o), "trained");
  const Encoding e = tok.encode("Mara lives in Oslo. Mara works in Lima.", false);
  ASSERT_EQ(e.size(), 10u);
  EXPECT_EQ(e.tokens[0], "ĠMara");
  EXPECT_EQ(e.ids[0], e.ids[5]);
  EXPECT_EQ(e.offsets[0], (ByteSpan{0, 4}));  // the inserted space has no bytes of its own
  for (const std::string& t : texts) {
    const std::vector<int64_t> ids = tok.encode(t, true).ids;
    EXPECT_EQ(tok.decode(ids), (t[0] == ' ' ? t : " " + t));  // decoding keeps the space
  }
  // Targets start with a space already and encode as before: one token per city.
  for (const auto& c : toy::toy_cities()) EXPECT_EQ(tok.encode(" " + c, false).size(), 1u) << c;
}

TEST(BpeTrainer, RejectsAVocabularyTooSmallForTheBytes) {
  BpeTrainerOptions o;
  o.vocab_size = 100;
  EXPECT_THROW(train_byte_level_bpe({"x"}, o), std::exception);
}

}  // namespace
}  // namespace xai
