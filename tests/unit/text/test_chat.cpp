// Conversations (framework/text/chat.h): messages rendered with the tokenizer's chat template as
// transformers renders them (the renderer itself: test_jinja.cpp), the user turns' text found in
// the rendering and marked as what is explained, one BOS (the template's, none added by the
// encoder), and the errors: no template, a template that raises, a turn it rewrites, bad JSON.
#include "framework/text/chat.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "framework/common/error.h"
#include "framework/text/jinja.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

// A folder with the toy GPT-2's tokenizer and a tokenizer_config.json holding `tpl` ("" = none).
std::string tokenizer_with(const test::TempDir& dir, const std::string& tpl) {
  const std::string src =
      std::string(XAI_SOURCE_DIR) + "/datasets/toy/models/toy_gpt2/tokenizer.json";
  std::filesystem::copy_file(src, dir.file("tokenizer.json"),
                             std::filesystem::copy_options::overwrite_existing);
  nlohmann::json cfg = {{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}};
  if (!tpl.empty()) cfg["chat_template"] = tpl;
  std::ofstream(dir.file("tokenizer_config.json")) << cfg.dump();
  return dir.file("tokenizer.json");
}

const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}User: {{ m['content'] | "
    "trim "
    "}}\n{% else %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Answer:{% endif %}";

TEST(Chat, RendersTheTemplateAndExplainsTheUserTurns) {
  test::TempDir dir;
  const Tokenizer tok = Tokenizer::from_file(tokenizer_with(dir, kTemplate));
  ASSERT_TRUE(tok.chat_template().has_value());
  Sample s;
  s.id = "c1";
  s.messages = {{"system", "Leo works in Perth."},
                {"user", " Mara works in Rome. "},
                {"assistant", "Noted."},
                {"user", "Where does Mara work?"}};
  s.target = " Rome";
  apply_chat_template(s, tok);
  const std::string want =
      "<|endoftext|>System: Leo works in Perth.\nUser: Mara works in Rome.\nAssistant: Noted.\n"
      "User: Where does Mara work?\nAnswer:";
  EXPECT_EQ(s.prompt, want);
  EXPECT_TRUE(s.chat);
  ASSERT_EQ(s.explain.size(), 2u);  // the user turns, trimmed as the template trims them
  EXPECT_EQ(s.prompt.substr(s.explain[0].begin, s.explain[0].end - s.explain[0].begin),
            "Mara works in Rome.");
  EXPECT_EQ(s.prompt.substr(s.explain[1].begin, s.explain[1].end - s.explain[1].begin),
            "Where does Mara work?");
  // Encoded: the template's BOS only (the tokenizer adds one to plain prompts).
  const Encoded e = encode_sample(s, tok, 256);
  const int64_t bos = *tok.token_to_id("<|endoftext|>");
  EXPECT_EQ(std::count(e.ids.begin(), e.ids.end(), bos), 1);
  EXPECT_EQ(e.ids[0], bos);
  EXPECT_EQ(e.explain_mask[0], 0);
  int64_t explained = 0;
  for (size_t i = 0; i < e.explain_mask.size(); ++i) {
    if (!e.explain_mask[i]) continue;
    ++explained;
    const ByteSpan b = e.offsets[i];
    const bool in_turn =  // a token may start with the space before the turn's text
        (b.begin >= s.explain[0].begin - 1 && b.end <= s.explain[0].end) ||
        (b.begin >= s.explain[1].begin - 1 && b.end <= s.explain[1].end);
    EXPECT_TRUE(in_turn) << "token " << i << " '" << e.tokens[i] << "' is outside the user turns";
  }
  EXPECT_GE(explained, 8);
  // A plain prompt still gets the tokenizer's BOS.
  Sample plain;
  plain.id = "p";
  plain.prompt = "Mara works in";
  plain.target = " Rome";
  EXPECT_EQ(encode_sample(plain, tok, 64).ids[0], bos);
}

TEST(Chat, ErrorsNameTheSample) {
  test::TempDir none, raising, rewriting;
  Sample s;
  s.id = "c2";
  s.messages = {{"user", "hello"}};
  Sample a = s;
  test::expect_error(
      [&] { apply_chat_template(a, Tokenizer::from_file(tokenizer_with(none, ""))); },
      {"sample 'c2'", "no chat_template"});
  Sample b = s;
  const Tokenizer r = Tokenizer::from_file(tokenizer_with(
      raising, "{{ raise_exception('Only user and assistant roles are supported!') }}"));
  test::expect_error([&] { apply_chat_template(b, r); },
                     {"sample 'c2'", "chat template: Only user and assistant roles"});
  Sample c = s;
  const Tokenizer w = Tokenizer::from_file(
      tokenizer_with(rewriting, "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"));
  test::expect_error([&] { apply_chat_template(c, w); },
                     {"sample 'c2'", "changes message 0's text"});
  test::expect_error([] { parse_messages("[{\"role\": \"user\"}]", "m.json"); },
                     {"m.json: message 0 is not"});
  test::expect_error([] { parse_messages("{", "m.json"); }, {"m.json: invalid JSON"});
}

}  // namespace
}  // namespace xai
