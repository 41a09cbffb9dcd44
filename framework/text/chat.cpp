// See chat.h.
#include "framework/text/chat.h"

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/text/jinja.h"

namespace xai {

void apply_chat_template(Sample& s, const Tokenizer& tokenizer) {
  if (s.messages.empty() || s.chat) return;
  const std::string what = str_cat("sample '", s.id, "'");
  XAI_CHECK(tokenizer.chat_template().has_value(), what,
            " is a conversation (messages), and the model's tokenizer_config.json has no "
            "chat_template (HINT: give the rendered text as the prompt)");
  nlohmann::ordered_json ctx;
  ctx["messages"] = nlohmann::ordered_json::array();
  for (const auto& m : s.messages)
    ctx["messages"].push_back({{"role", m.role}, {"content", m.content}});
  ctx["add_generation_prompt"] = true;
  ctx["bos_token"] = tokenizer.bos_text();
  ctx["eos_token"] = tokenizer.eos_text();
  try {
    s.prompt = jinja::render(*tokenizer.chat_template(), ctx);
  } catch (const Error& e) {
    throw Error(str_cat(what, ": ", e.what()));
  }
  s.chat = true;
  if (!s.explain.empty()) return;
  size_t from = 0;
  for (size_t k = 0; k < s.messages.size(); ++k) {
    if (s.messages[k].role != "user") continue;
    std::string text = s.messages[k].content;
    size_t at = s.prompt.find(text, from);
    if (at == std::string::npos) {  // a template that trims the turn (Llama 3, Gemma)
      const size_t b = text.find_first_not_of(" \t\n\r"), e = text.find_last_not_of(" \t\n\r");
      text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
      at = text.empty() ? std::string::npos : s.prompt.find(text, from);
    }
    XAI_CHECK(at != std::string::npos, what, ": the chat template changes message ", k,
              "'s text, so its tokens cannot be found to explain (HINT: give explain spans)");
    s.explain.push_back({static_cast<int64_t>(at), static_cast<int64_t>(at + text.size())});
    from = at + text.size();
  }
}

std::vector<Sample::Message> parse_messages(const std::string& json_text, const std::string& what) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(what, ": invalid JSON (", e.what(), ")"));
  }
  XAI_CHECK(j.is_array() && !j.empty(), what,
            ": expected a non-empty list of {\"role\": ..., \"content\": ...}");
  std::vector<Sample::Message> out;
  for (size_t k = 0; k < j.size(); ++k) {
    const auto& m = j[k];
    XAI_CHECK(m.is_object() && m.contains("role") && m["role"].is_string() &&
                  m.contains("content") && m["content"].is_string(),
              what, ": message ", k, " is not {\"role\": string, \"content\": string}");
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

}  // namespace xai
