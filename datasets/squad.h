// SQuAD v1.1 / v2.0 JSON: one sample per answerable question (v2 is_impossible ones are skipped
// and counted). The first gold answer is the target and its span in the prompt the evidence.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"

namespace xai {

// Reads and parses the file; throws xai::Error for an unreadable file, malformed JSON, or a
// layout without data[].paragraphs[].qas[].
std::unique_ptr<Dataset> open_squad(const DatasetOptions& options);

// The same over JSON already in memory; `source` names it in messages.
std::unique_ptr<Dataset> open_squad_json(nlohmann::json json, const std::string& source,
                                         const DatasetOptions& options);

// Byte offset of code point `chars` in UTF-8 text (SQuAD's answer_start counts Python string
// characters); -1 when the text is shorter.
int64_t utf8_char_to_byte(const std::string& text, int64_t chars);

}  // namespace xai
