// See glue.h.
#include "datasets/glue.h"

#include <filesystem>
#include <fstream>

#include "framework/common/error.h"

namespace xai {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  if (!out.empty() && !out.back().empty() && out.back().back() == '\r') out.back().pop_back();
  return out;
}

struct Row {
  int64_t number = 0;  // 1-based line in the file
  std::vector<std::string> fields;
};

class GlueDataset final : public Dataset {
 public:
  GlueDataset(std::string source, std::vector<std::string> header, std::vector<Row> rows)
      : source_(std::move(source)), rows_(std::move(rows)) {
    stem_ = std::filesystem::path(source_).stem().string();
    auto find = [&](std::initializer_list<const char*> names) {
      for (const char* n : names) {
        for (size_t i = 0; i < header.size(); ++i)
          if (header[i] == n) return static_cast<int>(i);
      }
      return -1;
    };
    const std::pair<const char*, const char*> pairs[] = {{"sentence1", "sentence2"},
                                                         {"#1 String", "#2 String"},
                                                         {"question1", "question2"},
                                                         {"question", "sentence"}};
    for (const auto& [a, b] : pairs) {
      if (find({a}) >= 0 && find({b}) >= 0) {
        a_ = find({a});
        b_ = find({b});
        break;
      }
    }
    if (a_ < 0) a_ = find({"sentence"});
    XAI_CHECK(a_ >= 0, source_, ":1: no text column (sentence, sentence1 + sentence2, #1 String "
                                "+ #2 String, question + sentence, question1 + question2)");
    label_ = find({"gold_label", "label", "Quality"});
    id_ = find({"index", "pairID", "id"});
  }

  const std::string& source() const override { return source_; }
  int64_t size() const override { return static_cast<int64_t>(rows_.size()); }
  std::string id(int64_t i) const override {
    const Row& r = row(i);
    if (id_ >= 0 && id_ < static_cast<int>(r.fields.size()) && !r.fields[id_].empty())
      return r.fields[id_];
    return str_cat(stem_, "-", r.number);
  }
  std::string locate(int64_t i) const override { return str_cat("line ", row(i).number); }

  Sample get(int64_t i) const override {
    const Row& r = row(i);
    const std::string where = str_cat(source_, ":", r.number, ": sample '", id(i), "': ");
    auto field = [&](int column, const char* what) -> const std::string& {
      XAI_CHECK(column < static_cast<int>(r.fields.size()), where, "the row has ",
                r.fields.size(), " fields, no ", what, " (column ", column + 1, ")");
      return r.fields[column];
    };
    Sample s;
    s.id = id(i);
    if (b_ >= 0) {
      const std::string a = field(a_, "first text");
      s.prompt = a + "\n" + field(b_, "second text");
      s.pair_split = static_cast<int64_t>(a.size()) + 1;
    } else {
      s.prompt = field(a_, "text");
    }
    XAI_CHECK(label_ >= 0, where, "the file has no label column (gold_label, label or Quality; a "
                                  "GLUE test split has none)");
    s.label = field(label_, "label");
    XAI_CHECK(!s.label.empty() && s.label != "-", where, "no label (an unlabelled row)");
    return s;
  }

 private:
  const Row& row(int64_t i) const {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return rows_[static_cast<size_t>(i)];
  }
  std::string source_, stem_;
  std::vector<Row> rows_;
  int a_ = -1, b_ = -1, label_ = -1, id_ = -1;
};

}  // namespace

std::unique_ptr<Dataset> open_glue(const DatasetOptions& options) {
  XAI_CHECK(!options.path.empty(), "glue: no path given (HINT: dataset.path: RTE/dev.tsv)");
  std::ifstream in(options.path, std::ios::binary);
  XAI_CHECK(in.good(), options.path, ": cannot open the TSV file");
  std::string line;
  XAI_CHECK(static_cast<bool>(std::getline(in, line)), options.path, ": empty file (a GLUE TSV "
                                                                     "starts with a header line)");
  const std::vector<std::string> header = split_tabs(line);
  std::vector<Row> rows;
  int64_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") continue;
    if (options.limit > 0 && static_cast<int64_t>(rows.size()) >= options.limit) break;
    rows.push_back(Row{number, split_tabs(line)});
  }
  return std::make_unique<GlueDataset>(options.path, header, std::move(rows));
}

}  // namespace xai
