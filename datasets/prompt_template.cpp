// See prompt_template.h.
#include "datasets/prompt_template.h"

#include <algorithm>

#include "framework/common/error.h"

namespace xai {
namespace {

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

}  // namespace

PromptTemplate::PromptTemplate(const std::string& text, const std::string& what,
                               const std::vector<std::string>& known)
    : text_(text) {
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{' && i + 1 < text.size() && is_name_start(text[i + 1])) {
      size_t j = i + 1;
      while (j < text.size() && is_name_char(text[j])) ++j;
      if (j < text.size() && text[j] == '}') {
        const std::string name = text.substr(i + 1, j - i - 1);
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          std::string list;
          for (const auto& k : known) list += (list.empty() ? "{" : ", {") + k + "}";
          throw Error(str_cat(what, ": unknown placeholder '{", name, "}' (known: ", list, ")"));
        }
        if (!literal.empty()) parts_.push_back({false, std::move(literal)});
        literal.clear();
        parts_.push_back({true, name});
        i = j + 1;
        continue;
      }
    }
    literal += text[i++];
  }
  if (!literal.empty()) parts_.push_back({false, std::move(literal)});
}

PromptTemplate::Rendered PromptTemplate::render(
    const std::map<std::string, std::string>& values) const {
  Rendered r;
  for (const Part& p : parts_) {
    if (!p.placeholder) {
      r.text += p.text;
      continue;
    }
    auto it = values.find(p.text);
    const std::string& v = it == values.end() ? std::string() : it->second;
    const auto begin = static_cast<int64_t>(r.text.size());
    r.text += v;
    r.spans[p.text].push_back({begin, static_cast<int64_t>(r.text.size())});
  }
  return r;
}

bool PromptTemplate::uses(const std::string& name) const {
  for (const Part& p : parts_)
    if (p.placeholder && p.text == name) return true;
  return false;
}

}  // namespace xai
