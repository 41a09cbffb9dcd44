// JSONL: one sample per non-empty line,
//   {"id"?: "...", "prompt": "...", "target": "...", "evidence"?: [[b, e], ...],
//    "explain"?: [[b, e], ...]}
// with spans in bytes of the prompt, or, for a classifier, a text and its class
//   {"id"?: "...", "text": "...", "label": "positive" | 1, "evidence"?: ..., "explain"?: ...}
// with spans in bytes of the text, or a text pair {"text_a": ..., "text_b": ..., "label": ...}
// with spans in bytes of text_a + "\n" + text_b. A line without an id gets
// "<file stem>-<line number>".
#pragma once

#include <memory>

#include "datasets/dataset.h"

namespace xai {

// Reads the lines; a malformed line is reported by get() for that line, not here.
std::unique_ptr<Dataset> open_jsonl(const DatasetOptions& options);

}  // namespace xai
