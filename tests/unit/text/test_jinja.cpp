// The chat-template renderer (framework/text/jinja.h) against transformers' own Jinja environment:
// the templates of Llama 3, Qwen2, Mistral, Gemma and SmolLM2 and one that uses the rest of the
// subset, on three conversations with and without the generation prompt, byte for byte
// (tests/reference/chat_template_fixtures.py), raise_exception's message where the template
// raises; then the errors a user meets, each naming the template's line.
#include "framework/text/jinja.h"

#include <gtest/gtest.h>

#include <fstream>

#include "framework/common/error.h"

namespace xai {
namespace {

nlohmann::ordered_json fixtures() {
  std::ifstream f(std::string(XAI_SOURCE_DIR) + "/tests/fixtures/chat_templates/rendered.json");
  return nlohmann::ordered_json::parse(f);
}

TEST(Jinja, RendersEveryTemplateAsTransformersDoes) {
  const auto f = fixtures();
  int rendered = 0, raised = 0;
  for (const auto& c : f.at("cases")) {
    const std::string name =
        c.at("template").get<std::string>() + " / " + c.at("conversation").get<std::string>() +
        (c.at("context").at("add_generation_prompt").get<bool>() ? " + gen" : "");
    const std::string source = f.at("templates").at(c.at("template").get<std::string>());
    if (c.at("error").is_null()) {
      EXPECT_EQ(jinja::render(source, c.at("context")), c.at("rendered").get<std::string>())
          << name;
      ++rendered;
    } else {
      try {
        jinja::render(source, c.at("context"));
        ADD_FAILURE() << name << ": expected " << c.at("error");
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "chat template: " + c.at("error").get<std::string>())
            << name;
      }
      ++raised;
    }
  }
  EXPECT_GE(rendered, 28);
  EXPECT_GE(raised, 4);  // Mistral and Gemma refuse a system turn
}

TEST(Jinja, ErrorsNameTheLine) {
  const nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::array()}, {"x", 1}};
  auto expect = [&](const std::string& src, const std::string& want) {
    try {
      jinja::render(src, ctx);
      ADD_FAILURE() << src;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect("a\n{% macro m() %}{% endmacro %}", "line 2: '{% macro %}' is not supported");
  expect("{% if x %}", "missing {% endif %}");
  expect("{{ x + 'a' }}", "'+' of int and str");
  expect("{{ x | nope }}", "unknown filter 'nope'");
  expect("{{ x is nope }}", "unknown test 'nope'");
  expect("\n\n{{ x ! }}", "line 3: unexpected character '!'");
  expect("{{ 'a }}", "never closed");
  EXPECT_EQ(jinja::render("{{ undefined_name }}|{{ x }}", ctx), "|1");
  EXPECT_EQ(jinja::python_json(nlohmann::ordered_json::parse(R"({"a": [1, 1.5e-7, "é\u0001"]})")),
            "{\"a\": [1, 1.5e-07, \"\xC3\xA9\\u0001\"]}");
}

}  // namespace
}  // namespace xai
