// Conversations: a sample's messages rendered with the model's chat template
// (tokenizer_config.json's chat_template) as transformers' apply_chat_template renders them with
// add_generation_prompt (framework/text/jinja.h), the user turns' text marked as what is explained.
#pragma once

#include <string>
#include <vector>

#include "framework/text/encoded.h"
#include "framework/text/tokenizer.h"

namespace xai {

// When `sample` has messages and no rendered prompt yet: renders them into sample.prompt with the
// tokenizer's chat template (messages, add_generation_prompt true, bos_token, eos_token), sets
// sample.chat, and, unless the sample names its own explain spans, sets them to the user turns'
// text where it stands in the rendered prompt (each found after the previous; a template that
// trims a turn is matched by the trimmed text). Throws xai::Error naming the sample when the
// tokenizer has no chat template, the template raises, or a user turn's text is not in the
// rendering.
void apply_chat_template(Sample& sample, const Tokenizer& tokenizer);

// Messages from JSON text: a list of {"role": ..., "content": ...}; `what` names the source in
// errors ("msgs.json").
std::vector<Sample::Message> parse_messages(const std::string& json_text, const std::string& what);

}  // namespace xai
