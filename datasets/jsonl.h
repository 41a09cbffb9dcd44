// JSONL: one sample per non-empty line,
//   {"id"?: "...", "prompt": "...", "target": "...", "evidence"?: [[b, e], ...],
//    "explain"?: [[b, e], ...], "foil"?: "..."}
// with spans in bytes of the prompt, or, for a classifier, a text and its class
//   {"id"?: "...", "text": "...", "label": "positive" | 1, "evidence"?: ..., "explain"?: ...,
//    "foil"?: "negative" | 0}
// (foil: a contrast, the target explained against it: Sample::foil)
// with spans in bytes of the text, or a text pair {"text_a": ..., "text_b": ..., "label": ...}
// with spans in bytes of text_a + "\n" + text_b, or, for an image classifier, an image file
//   {"id"?: "...", "image": "cat/001.png", "label": "cat" | 3, "mask"?: "cat/001_mask.png"}
// with paths relative to the JSONL file's folder (PNG or JPEG; the mask gray, the image's size);
// the image is decoded when the sample is read, so a bad file fails that sample alone. A line
// without an id gets "<file stem>-<line number>".
#pragma once

#include <memory>

#include "datasets/dataset.h"

namespace xai {

// Reads the lines; a malformed line is reported by get() for that line, not here.
std::unique_ptr<Dataset> open_jsonl(const DatasetOptions& options);

}  // namespace xai
