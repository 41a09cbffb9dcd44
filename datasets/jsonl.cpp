// See jsonl.h.
#include "datasets/jsonl.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "datasets/image_folder.h"
#include "framework/common/error.h"
#include "framework/text/chat.h"

namespace xai {
namespace {

std::string read_label(const nlohmann::json& line, const std::string& where);

struct Line {
  int64_t number = 0;   // 1-based line in the file
  nlohmann::json json;  // discarded when the line is not valid JSON
  std::string error;    // the parse error then
};

class JsonlDataset final : public Dataset {
 public:
  JsonlDataset(std::string source, std::vector<Line> lines, bool explain_all)
      : source_(std::move(source)), lines_(std::move(lines)), explain_all_(explain_all) {
    stem_ = std::filesystem::path(source_).stem().string();
  }

  const std::string& source() const override { return source_; }
  int64_t size() const override { return static_cast<int64_t>(lines_.size()); }

  std::string id(int64_t i) const override {
    const Line& l = line(i);
    if (l.json.is_object()) {
      auto it = l.json.find("id");
      if (it != l.json.end()) {
        if (it->is_string() && !it->get_ref<const std::string&>().empty())
          return it->get<std::string>();
        if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
      }
    }
    return str_cat(stem_, "-", l.number);
  }

  std::string locate(int64_t i) const override { return str_cat("line ", line(i).number); }

  Sample get(int64_t i) const override {
    const Line& l = line(i);
    const std::string where = str_cat(source_, ":", l.number, ": sample '", id(i), "': ");
    if (!l.error.empty()) throw Error(where + "malformed JSON: " + l.error);
    if (!l.json.is_object()) throw Error(where + "expected a JSON object");
    auto text = [&](const char* key) {
      auto it = l.json.find(key);
      if (it == l.json.end()) throw Error(str_cat(where, "missing field '", key, "'"));
      if (!it->is_string()) throw Error(str_cat(where, "field '", key, "' is not a string"));
      return it->get<std::string>();
    };
    Sample s;
    s.id = id(i);
    if (l.json.contains("image")) return image_sample(l, where, text);
    if (l.json.contains("label")) {
      // A classification line: the text (or a pair) and its class (a name, or an id).
      if (l.json.contains("text_a") || l.json.contains("text_b")) {
        const std::string a = text("text_a");
        s.prompt = a + "\n" + text("text_b");
        s.pair_split = static_cast<int64_t>(a.size()) + 1;
      } else {
        s.prompt = text("text");
      }
      s.label = read_label(l.json, where);
    } else if (l.json.contains("messages")) {  // a conversation, rendered per model
      s.messages = parse_messages(l.json["messages"].dump(), where + "field 'messages'");
      s.target = text("target");
      for (const char* key : {"evidence", "explain", "prompt"}) {
        XAI_CHECK(!l.json.contains(key), where, "a conversation has no '", key,
                  "': its bytes depend on each model's chat template (the user turns are "
                  "explained)");
      }
    } else {
      s.prompt = text("prompt");
      s.target = text("target");
    }
    auto spans = [&](const char* key) {
      std::vector<ByteSpan> out;
      auto it = l.json.find(key);
      if (it == l.json.end() || it->is_null()) return out;
      if (!it->is_array()) throw Error(str_cat(where, "'", key, "' is not a list of [begin, end]"));
      for (size_t k = 0; k < it->size(); ++k) {
        const nlohmann::json& p = (*it)[k];
        if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() ||
            !p[1].is_number_integer()) {
          throw Error(str_cat(where, key, "[", k, "] is not a pair of integers [begin, end]"));
        }
        const ByteSpan span{p[0].get<int64_t>(), p[1].get<int64_t>()};
        if (span.begin < 0 || span.begin >= span.end ||
            span.end > static_cast<int64_t>(s.prompt.size())) {
          throw Error(str_cat(where, key, "[", k, "] = [", span.begin, ", ", span.end,
                              "] is not a non-empty byte span of the ",
                              s.label.empty() ? "prompt" : "text", " (", s.prompt.size(),
                              " bytes)"));
        }
        out.push_back(span);
      }
      return out;
    };
    if (auto f = l.json.find("foil"); f != l.json.end() && !f->is_null()) {
      // A contrast: another answer (text), or another class (a name or an id).
      if (f->is_number_integer()) {
        XAI_CHECK(!s.label.empty(), where,
                  "field 'foil' is a number, and the line has no label "
                  "(a language model's foil is text)");
        s.foil = std::to_string(f->get<int64_t>());
      } else {
        s.foil = text("foil");
      }
      XAI_CHECK(!s.foil.empty(), where, "field 'foil' is empty");
    }
    s.evidence = spans("evidence");
    s.explain = spans("explain");
    if (explain_all_) s.explain.clear();
    return s;
  }

  // An image line: {"image": path, "label": class, "mask"?: path}, paths relative to the file's
  // folder (or absolute).
  template <typename Text>
  Sample image_sample(const Line& l, const std::string& where, const Text& text) const {
    Sample s;
    s.id = id(static_cast<int64_t>(&l - lines_.data()));
    for (const char* key :
         {"prompt", "target", "text", "text_a", "text_b", "evidence", "explain", "foil"}) {
      if (l.json.contains(key)) {
        throw Error(str_cat(where, "an image line has no '", key,
                            "' (it holds image, label and optionally mask)"));
      }
    }
    s.label = read_label(l.json, where);
    auto resolve = [&](const std::string& p) {
      const std::filesystem::path path(p);
      return path.is_absolute() ? p
                                : (std::filesystem::path(source_).parent_path() / path).string();
    };
    s.image_path = resolve(text("image"));
    const std::string what = where.substr(0, where.size() - 2);  // without the trailing ": "
    s.image = read_sample_image(s.image_path, what);
    if (l.json.contains("mask") && !l.json["mask"].is_null()) {
      s.mask = read_sample_image(resolve(text("mask")), what + " (its mask)");
    }
    return s;
  }

 private:
  const Line& line(int64_t i) const {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return lines_[static_cast<size_t>(i)];
  }

  std::string source_;
  std::string stem_;
  std::vector<Line> lines_;
  bool explain_all_;
};

// A classification line's class: a name, or an id (a non-negative integer).
std::string read_label(const nlohmann::json& line, const std::string& where) {
  auto it = line.find("label");
  if (it != line.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
    return it->get<std::string>();
  }
  if (it != line.end() && it->is_number_integer() && it->get<int64_t>() >= 0) {
    return std::to_string(it->get<int64_t>());
  }
  throw Error(where + "field 'label' must be a class name or a class id (a non-negative integer)");
}

bool blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

std::unique_ptr<Dataset> open_jsonl(const DatasetOptions& options) {
  XAI_CHECK(!options.path.empty(), "jsonl: no path given (HINT: dataset.path: samples.jsonl)");
  std::ifstream in(options.path, std::ios::binary);
  XAI_CHECK(options.explain == "context" || options.explain == "prompt", options.path,
            ": explain must be 'context' (a line's own spans) or 'prompt' (got '", options.explain,
            "')");
  XAI_CHECK(in.good(), options.path, ": cannot open the JSONL file");
  std::vector<Line> lines;
  std::string text;
  int64_t number = 0;
  while (std::getline(in, text)) {
    ++number;
    if (blank(text)) continue;
    if (options.limit > 0 && static_cast<int64_t>(lines.size()) >= options.limit) break;
    Line l;
    l.number = number;
    try {
      l.json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      l.error = e.what();
    }
    lines.push_back(std::move(l));
  }
  return std::make_unique<JsonlDataset>(options.path, std::move(lines),
                                        options.explain == "prompt");
}

}  // namespace xai
