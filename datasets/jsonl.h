// JSONL: one sample per non-empty line,
//   {"id"?: "...", "prompt": "...", "target": "...", "evidence"?: [[b, e], ...],
//    "explain"?: [[b, e], ...]}
// with spans in bytes of the prompt. A line without an id gets "<file stem>-<line number>".
#pragma once

#include <memory>

#include "datasets/dataset.h"

namespace xai {

// Reads the lines; a malformed line is reported by get() for that line, not here.
std::unique_ptr<Dataset> open_jsonl(const DatasetOptions& options);

}  // namespace xai
