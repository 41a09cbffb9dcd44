// See squad.h.
#include "datasets/squad.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "datasets/prompt_template.h"
#include "framework/common/error.h"

namespace xai {
namespace {

const std::vector<std::string> kPlaceholders = {"context", "question", "answer", "title"};

// obj[key], or nullptr when obj is not an object or has no such key.
const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

class SquadDataset final : public Dataset {
 public:
  SquadDataset(nlohmann::json json, std::string source, const DatasetOptions& o)
      : json_(std::move(json)),
        source_(std::move(source)),
        prompt_(o.prompt_template, "prompt_template", kPlaceholders),
        target_(o.target_template, "target_template", kPlaceholders),
        explain_context_(o.explain == "context") {
    XAI_CHECK(o.explain == "context" || o.explain == "prompt", source_,
              ": explain must be 'context' or 'prompt' (got '", o.explain, "')");
    XAI_CHECK(!explain_context_ || prompt_.uses("context"), source_,
              ": the prompt template has no {context} to explain (HINT: set explain: prompt)");
    XAI_CHECK(target_.uses("answer"), source_,
              ": the target template has no {answer} (HINT: the default is ' {answer}')");
    index(o.limit);
    stem_ = std::filesystem::path(source_).stem().string();
  }

  const std::string& source() const override { return source_; }
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int64_t skipped() const override { return skipped_; }
  std::string skipped_reason() const override {
    return skipped_ ? "unanswerable (SQuAD v2 is_impossible)" : "";
  }

  std::string id(int64_t i) const override {
    const nlohmann::json& qa = *entry(i).qa;
    const nlohmann::json* id = member(qa, "id");
    if (id != nullptr && id->is_string() && !id->get_ref<const std::string&>().empty())
      return id->get<std::string>();
    return str_cat(stem_, "#", i);
  }

  Sample get(int64_t i) const override {
    const Entry& e = entry(i);
    const std::string sid = id(i);
    auto fail = [&](const std::string& what) -> Error {
      return Error(str_cat(source_, ": question '", sid, "': ", what));
    };
    auto string_field = [&](const nlohmann::json& obj, const char* key,
                            const std::string& where) -> std::string {
      const nlohmann::json* v = member(obj, key);
      if (v == nullptr) throw fail(str_cat("missing field '", where, key, "'"));
      if (!v->is_string()) throw fail(str_cat("field '", where, key, "' is not a string"));
      return v->get<std::string>();
    };
    const nlohmann::json* raw_id = member(*e.qa, "id");
    if (raw_id == nullptr) throw fail("missing field 'id'");
    if (!raw_id->is_string()) throw fail("field 'id' is not a string");
    const std::string context = string_field(*e.paragraph, "context", "");
    const std::string question = string_field(*e.qa, "question", "");
    std::string title;
    if (const nlohmann::json* t = member(*e.article, "title"); t != nullptr && t->is_string())
      title = t->get<std::string>();

    const nlohmann::json* answers = member(*e.qa, "answers");
    if (answers == nullptr) throw fail("missing field 'answers'");
    if (!answers->is_array() || answers->empty()) throw fail("'answers' is not a non-empty list");
    const nlohmann::json& a0 = (*answers)[0];
    const std::string answer = string_field(a0, "text", "answers[0].");
    const nlohmann::json* start = member(a0, "answer_start");
    if (start == nullptr) throw fail("missing field 'answers[0].answer_start'");
    if (!start->is_number_integer()) throw fail("'answers[0].answer_start' is not an integer");
    const int64_t chars = start->get<int64_t>();
    const int64_t begin = chars < 0 ? -1 : utf8_char_to_byte(context, chars);
    if (begin < 0 || answer.empty() ||
        context.compare(static_cast<size_t>(begin), answer.size(), answer) != 0) {
      std::string there =
          begin < 0 ? std::string("beyond the end of the context")
                    : str_cat("the context has '",
                              context.substr(static_cast<size_t>(begin), answer.size()), "' there");
      throw fail(str_cat("answer_start ", chars, " does not point at the answer '", answer, "' (",
                         there, ")"));
    }

    const std::map<std::string, std::string> values = {
        {"context", context}, {"question", question}, {"answer", answer}, {"title", title}};
    PromptTemplate::Rendered p = prompt_.render(values);
    Sample s;
    s.id = sid;
    s.prompt = std::move(p.text);
    s.target = target_.render(values).text;
    auto ctx = p.spans.find("context");
    if (ctx != p.spans.end()) {
      if (explain_context_) s.explain = ctx->second;
      const int64_t at = ctx->second.front().begin + begin;
      s.evidence.push_back({at, at + static_cast<int64_t>(answer.size())});
    }
    s.meta = {{"question", question}, {"answer", answer}};
    if (!title.empty()) s.meta["title"] = title;
    return s;
  }

 private:
  struct Entry {
    const nlohmann::json* article;
    const nlohmann::json* paragraph;
    const nlohmann::json* qa;
  };

  const Entry& entry(int64_t i) const {
    XAI_CHECK(i >= 0 && i < size(), source_, ": sample index ", i, " outside [0, ", size(), ")");
    return entries_[static_cast<size_t>(i)];
  }

  void index(int64_t limit) {
    auto list = [&](const nlohmann::json& obj, const char* key, const std::string& where) {
      const nlohmann::json* v = member(obj, key);
      XAI_CHECK(v != nullptr && v->is_array(), source_, ": ", where, key,
                " is missing or not a list (HINT: is this SQuAD JSON?)");
      return v;
    };
    const nlohmann::json* data = list(json_, "data", "");
    for (size_t a = 0; a < data->size(); ++a) {
      const nlohmann::json& article = (*data)[a];
      const nlohmann::json* paragraphs = list(article, "paragraphs", str_cat("data[", a, "]."));
      for (size_t p = 0; p < paragraphs->size(); ++p) {
        const nlohmann::json& paragraph = (*paragraphs)[p];
        const nlohmann::json* qas =
            list(paragraph, "qas", str_cat("data[", a, "].paragraphs[", p, "]."));
        for (const nlohmann::json& qa : *qas) {
          const nlohmann::json* impossible = member(qa, "is_impossible");
          if (impossible != nullptr && impossible->is_boolean() && impossible->get<bool>()) {
            ++skipped_;
            continue;
          }
          if (limit > 0 && static_cast<int64_t>(entries_.size()) >= limit) continue;
          entries_.push_back({&article, &paragraph, &qa});
        }
      }
    }
  }

  nlohmann::json json_;
  std::string source_;
  std::string stem_;
  PromptTemplate prompt_;
  PromptTemplate target_;
  bool explain_context_;
  std::vector<Entry> entries_;
  int64_t skipped_ = 0;
};

}  // namespace

int64_t utf8_char_to_byte(const std::string& text, int64_t chars) {
  size_t i = 0;
  for (int64_t c = 0; c < chars; ++c) {
    if (i >= text.size()) return -1;
    const auto b = static_cast<unsigned char>(text[i]);
    i += b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  }
  return i <= text.size() ? static_cast<int64_t>(i) : -1;
}

std::unique_ptr<Dataset> open_squad_json(nlohmann::json json, const std::string& source,
                                         const DatasetOptions& options) {
  return std::make_unique<SquadDataset>(std::move(json), source, options);
}

std::unique_ptr<Dataset> open_squad(const DatasetOptions& options) {
  XAI_CHECK(!options.path.empty(), "squad: no path given (HINT: dataset.path: dev-v1.1.json)");
  std::ifstream in(options.path, std::ios::binary);
  XAI_CHECK(in.good(), options.path, ": cannot open the SQuAD file");
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(options.path, ": malformed JSON: ", e.what()));
  }
  return open_squad_json(std::move(j), options.path, options);
}

}  // namespace xai
