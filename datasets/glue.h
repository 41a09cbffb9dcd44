// GLUE-style TSV files as a user downloads them (SST-2, MRPC, RTE, MNLI, QNLI, QQP): one header
// line, tab-separated fields without quoting. The header names the columns:
//   text:  sentence | sentence1 + sentence2 | #1 String + #2 String | question + sentence |
//          question1 + question2 (a pair: text_a "\n" text_b, as the JSONL reader joins them)
//   label: gold_label | label | Quality (a class name, or an id)
//   id:    index | pairID | id, else "<file stem>-<line number>"
// Samples are classification samples (Sample::label); a row without a label (GLUE's test splits)
// is reported by get() for that row.
#pragma once

#include <memory>

#include "datasets/dataset.h"

namespace xai {

std::unique_ptr<Dataset> open_glue(const DatasetOptions& options);

}  // namespace xai
