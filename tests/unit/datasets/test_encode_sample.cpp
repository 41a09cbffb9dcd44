// encode_sample: prompt (with special tokens) + target[:-1], the explain and evidence masks at
// exact positions, offsets into prompt and target, and the errors for unusable samples. The
// positions below were read off the fixture tokenizers (whose encodings match Hugging Face).
#include <gtest/gtest.h>

#include "framework/text/encoded.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;

Tokenizer fixture_tokenizer(const std::string& name) {
  return Tokenizer::from_file(test::fixture("tokenizers/" + name + "/tokenizer.json"));
}

// "Zoë" is 4 bytes; the context is bytes [0, 19), "Oslo" bytes [14, 18).
Sample zoe() {
  Sample s;
  s.id = "s1";
  s.prompt = "Zoë lives in Oslo.\nQ: Where?\nA:";
  s.target = " Oslo now";
  s.explain = {{0, 19}};
  s.evidence = {{14, 18}};
  return s;
}

std::vector<uint8_t> ones_at(size_t n, std::initializer_list<size_t> at) {
  std::vector<uint8_t> v(n, 0);
  for (size_t i : at) v[i] = 1;
  return v;
}

TEST(EncodeSample, ByteLevelBpeWithoutBos) {
  const Tokenizer tok = fixture_tokenizer("byte_level_bpe");
  const Sample s = zoe();
  const Encoded e = encode_sample(s, tok, 1024);
  // Prompt: Z o Ã « Ġlives Ġin ĠOslo . Ċ Q : ĠWhere ? Ċ A :   (16 tokens, no BOS)
  // Target: ĠOslo Ġn ow
  ASSERT_EQ(e.prompt_len, 16);
  ASSERT_EQ(e.size(), 18);
  EXPECT_EQ(e.target_ids, (std::vector<int64_t>{360, 384, 475}));
  const Encoding p = tok.encode(s.prompt, true);
  EXPECT_EQ(std::vector<int64_t>(e.ids.begin(), e.ids.begin() + 16), p.ids);
  EXPECT_EQ(e.ids[16], 360);
  EXPECT_EQ(e.ids[17], 384);
  EXPECT_EQ(e.tokens[6], "ĠOslo");
  EXPECT_EQ(e.tokens[17], "Ġn");
  EXPECT_EQ(e.explain_mask, ones_at(18, {0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_EQ(e.evidence_mask.size(), 18u);
  for (size_t i = 0; i < 18; ++i) EXPECT_EQ(e.evidence_mask[i], i == 6 ? 1.0f : 0.0f) << i;
  EXPECT_EQ(e.offsets[2], (ByteSpan{2, 4}));    // both bytes of ë
  EXPECT_EQ(e.offsets[6], (ByteSpan{13, 18}));  // into the prompt
  EXPECT_EQ(e.offsets[16], (ByteSpan{0, 5}));   // into the target
  EXPECT_EQ(e.offsets[17], (ByteSpan{5, 7}));
  EXPECT_EQ(e.num_targets(), 3);
}

TEST(EncodeSample, TargetIdsAreUsedAsGivenWithSpansInTheirDecodedText) {
  // A generation's ids, " Oslo now" as the tokenizer splits it: the same encoding as the text.
  const Tokenizer tok = fixture_tokenizer("byte_level_bpe");
  Sample by_text = zoe();
  Sample by_ids = zoe();
  by_ids.target_ids = {360, 384, 475};
  by_ids.target = tok.decode(by_ids.target_ids, false);
  EXPECT_EQ(by_ids.target, " Oslo now");
  const Encoded a = encode_sample(by_text, tok, 1024), b = encode_sample(by_ids, tok, 1024);
  EXPECT_EQ(b.ids, a.ids);
  EXPECT_EQ(b.target_ids, a.target_ids);
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_EQ(b.offsets, a.offsets);
  EXPECT_EQ(b.explain_mask, a.explain_mask);
  // Ids the text would not tokenise to (" Oslo" as single bytes) are kept as they are.
  const int64_t sp = *tok.token_to_id("Ġ"), o = *tok.token_to_id("O");
  Sample odd = zoe();
  odd.target_ids = {sp, o, 360};
  odd.target = tok.decode(odd.target_ids, false);
  const Encoded c = encode_sample(odd, tok, 1024);
  EXPECT_EQ(c.target_ids, odd.target_ids);
  EXPECT_EQ(c.offsets[16], (ByteSpan{0, 1}));  // " " of " O Oslo"
  EXPECT_EQ(c.offsets[17], (ByteSpan{1, 2}));
}

TEST(EncodeSample, MetaspaceWithBosSkipsTheSpecialToken) {
  const Tokenizer tok = fixture_tokenizer("llama2_metaspace");
  Sample s = zoe();
  const Encoded e = encode_sample(s, tok, 0);
  // Prompt: <s> ▁ Z o <0xC3> <0xAB> ▁lives ▁in ▁Oslo. <0x0A> Q : ▁Where ? <0x0A> A :
  // Target (the normalizer prepends ▁ to " Oslo now"): ▁ ▁Osl o ▁n ow
  ASSERT_EQ(e.prompt_len, 17);
  ASSERT_EQ(e.size(), 21);
  EXPECT_EQ(e.ids[0], 1);
  EXPECT_EQ(e.target_ids, (std::vector<int64_t>{356, 461, 309, 493, 599}));
  EXPECT_EQ(std::vector<int64_t>(e.ids.begin() + 17, e.ids.end()),
            (std::vector<int64_t>{356, 461, 309, 493}));
  EXPECT_EQ(e.explain_mask, ones_at(21, {1, 2, 3, 4, 5, 6, 7, 8}));
  // "▁Oslo." [13, 19) overlaps the evidence [14, 18).
  for (size_t i = 0; i < 21; ++i) EXPECT_EQ(e.evidence_mask[i], i == 8 ? 1.0f : 0.0f) << i;
  EXPECT_EQ(e.offsets[0], (ByteSpan{0, 0}));
  EXPECT_EQ(e.offsets[8], (ByteSpan{13, 19}));
  EXPECT_EQ(e.offsets[18], (ByteSpan{0, 4}));

  // No explain spans: every prompt token but the BOS; no evidence: an empty mask.
  s.explain.clear();
  s.evidence.clear();
  const Encoded all = encode_sample(s, tok, 0);
  std::vector<uint8_t> want(21, 0);
  for (size_t i = 1; i < 17; ++i) want[i] = 1;
  EXPECT_EQ(all.explain_mask, want);
  EXPECT_TRUE(all.evidence_mask.empty());

  // Asked for, the special tokens are explained too: with spans and without; never evidence.
  s.explain_special_tokens = true;
  want[0] = 1;
  EXPECT_EQ(encode_sample(s, tok, 0).explain_mask, want);
  s.explain = {{0, 19}};
  s.evidence = {{14, 18}};
  const Encoded spans = encode_sample(s, tok, 0);
  EXPECT_EQ(spans.explain_mask, ones_at(21, {0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(spans.evidence_mask[0], 0.0f);
}

TEST(EncodeSample, SingleTokenTargetAddsNothingToTheInput) {
  const Tokenizer tok = fixture_tokenizer("byte_level_bpe");
  Sample s = zoe();
  s.target = " Oslo";
  const Encoded e = encode_sample(s, tok, 16);  // exactly the limit
  EXPECT_EQ(e.size(), 16);
  EXPECT_EQ(e.prompt_len, 16);
  EXPECT_EQ(e.target_ids, (std::vector<int64_t>{360}));
}

TEST(EncodeSample, UnusableSamplesAreOneLineErrorsNamingTheSample) {
  const Tokenizer tok = fixture_tokenizer("llama2_metaspace");
  Sample s = zoe();
  s.target = "";
  expect_error([&] { encode_sample(s, tok, 0); }, {"sample 's1'", "encodes to no token"});
  s = zoe();
  expect_error([&] { encode_sample(s, tok, 17); },
               {"sample 's1' has 21 tokens", "the model takes 17"});
  s.evidence = {{30, 40}};
  expect_error([&] { encode_sample(s, tok, 0); },
               {"sample 's1'", "evidence span 0 [30, 40)", "32 bytes"});
  s = zoe();
  s.explain = {{0, 19}, {5, 5}};
  expect_error([&] { encode_sample(s, tok, 0); }, {"explain span 1 [5, 5)"});
  s = zoe();
  s.explain = {{-1, 3}};
  expect_error([&] { encode_sample(s, tok, 0); }, {"explain span 0 [-1, 3)"});

  // A span over text no token covers (BERT drops the spaces).
  const Tokenizer bert = fixture_tokenizer("wordpiece_bert");
  Sample b;
  b.id = "b";
  b.prompt = "a  b";
  b.target = "c";
  b.evidence = {{1, 3}};
  expect_error([&] { encode_sample(b, bert, 0); },
               {"sample 'b'", "evidence span 0 [1, 3)", "covers no prompt token"});
}

}  // namespace
}  // namespace xai
