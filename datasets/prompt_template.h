// Prompt and target templates ("{context}\nQuestion: {question}\nAnswer:"): placeholders are
// replaced by a sample's fields, and where each one landed is kept as byte spans.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/text/tokenizer.h"

namespace xai {

class PromptTemplate {
 public:
  // `what` names the template in messages ("prompt_template"). A placeholder is "{name}" with
  // name in [A-Za-z_][A-Za-z0-9_]*; any other brace is literal text. A name outside `known` is
  // an xai::Error naming it and listing the known ones.
  PromptTemplate(const std::string& text, const std::string& what,
                 const std::vector<std::string>& known);

  struct Rendered {
    std::string text;
    std::map<std::string, std::vector<ByteSpan>> spans;  // placeholder -> where its value went
  };
  // A value missing from `values` renders as the empty string.
  Rendered render(const std::map<std::string, std::string>& values) const;

  bool uses(const std::string& name) const;
  const std::string& text() const { return text_; }

 private:
  struct Part {
    bool placeholder;
    std::string text;  // literal text or the placeholder's name
  };
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace xai
