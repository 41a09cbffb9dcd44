// Loading the config tree: yaml-cpp nodes copied with their origins, `include:` merged, overrides
// applied.
#include "framework/config/config_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/common/error.h"
#include "framework/text/unicode.h"

namespace xai::config_detail {
namespace fs = std::filesystem;

namespace {

std::string join_key(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

int line_of(const YAML::Mark& m) { return m.is_null() ? 0 : m.line + 1; }

// How much a document may expand to. yaml-cpp shares an aliased node, but copying it into Values
// expands every alias: a dozen lines of nested anchors ("billion laughs") would take gigabytes.
// No real experiment comes near either bound.
constexpr int64_t kMaxValues = 200000;
constexpr int kMaxDepth = 200;

struct Budget {
  int64_t values = 0;  // Values made so far for this document
};

// Copies a yaml-cpp node. `with_lines` is false for override values, whose marks point into the
// override text rather than a file.
Value convert(const YAML::Node& n, const std::string& origin, bool with_lines,
              const std::string& path, Budget& budget, int depth = 0) {
  if (++budget.values > kMaxValues) {
    throw Error(str_cat(where(origin, with_lines ? line_of(n.Mark()) : 0, path),
                        "the YAML expands to more than ", kMaxValues,
                        " values (aliases of anchors that hold aliases?); refusing to read it. ",
                        "HINT: write the values out, or use fewer nested aliases"));
  }
  if (depth > kMaxDepth) {
    throw Error(str_cat(where(origin, with_lines ? line_of(n.Mark()) : 0, path),
                        "the YAML nests deeper than ", kMaxDepth, " levels"));
  }
  Value v;
  v.origin = origin;
  v.source = origin;
  v.line = with_lines ? line_of(n.Mark()) : 0;
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      v.kind = Value::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      v.kind = Value::Kind::kScalar;
      v.text = n.Scalar();
      v.quoted = n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str";
      break;
    case YAML::NodeType::Sequence: {
      v.kind = Value::Kind::kSequence;
      size_t i = 0;
      for (const auto& item : n) {
        v.items.push_back(convert(item, origin, with_lines, path + "[" + std::to_string(i) + "]",
                                  budget, depth + 1));
        ++i;
      }
      break;
    }
    case YAML::NodeType::Map:
      v.kind = Value::Kind::kMapping;
      for (const auto& kv : n) {
        const int key_line = with_lines ? line_of(kv.first.Mark()) : 0;
        if (!kv.first.IsScalar()) {
          throw Error(str_cat(where(origin, key_line, path),
                              "keys must be plain words, got a complex key"));
        }
        const std::string key = kv.first.Scalar();
        // A child's path is its parent's plus ".key": an empty key would make a mapping its own
        // child, and reading the resolved tree would recurse forever.
        if (key.empty()) {
          throw Error(str_cat(where(origin, key_line, path), "a key may not be empty"));
        }
        if (const Entry* prev = find_entry(v, key)) {
          throw Error(str_cat(
              where(origin, key_line, join_key(path, key)), "duplicate key",
              prev->line > 0 ? str_cat(" (first set at line ", prev->line, ")") : std::string()));
        }
        Entry e{key, origin, key_line,
                convert(kv.second, origin, with_lines, join_key(path, key), budget, depth + 1)};
        // An empty value ("key:") has no useful mark of its own.
        if (e.value.kind == Value::Kind::kNull || e.value.line == 0) e.value.line = key_line;
        v.entries.push_back(std::move(e));
      }
      break;
  }
  return v;
}

// Counts a stream's documents through yaml-cpp's events, and notices a parser that keeps
// reporting an empty document at one place without reading on: yaml-cpp 0.7's LoadAll loops
// forever on that, allocating until the machine runs out of memory (e.g. a stray ',' at the top;
// yaml-cpp issue 1040, found by the config fuzzer).
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents_;
    start_ = mark;
    events_ = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { event(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { event(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    event(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    event(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    event(mark);
  }
  void OnMapEnd() override {}

  int documents() const { return documents_; }
  // This document is one null at the place the previous one was: the parser is not moving.
  bool stuck() const { return stuck_; }
  const YAML::Mark& last() const { return last_; }

 private:
  void event(const YAML::Mark& mark) {
    stuck_ = documents_ > 1 && events_ == 0 && mark.pos == last_.pos;
    ++events_;
    last_ = mark;
  }
  int documents_ = 0, events_ = 0;
  bool stuck_ = false;
  YAML::Mark start_, last_;
};

[[noreturn]] void invalid_yaml(const std::string& name, const YAML::Mark& mark,
                               const std::string& msg) {
  const int line = line_of(mark);
  throw Error(str_cat(name, line > 0 ? str_cat(":", line) : std::string(), ": invalid YAML",
                      mark.is_null() ? std::string() : str_cat(" (column ", mark.column + 1, ")"),
                      ": ", msg));
}

// YAML text must be UTF-8 without NUL bytes: yaml-cpp reads a text that starts with a byte and
// three NULs as UTF-32 and hands back invalid UTF-8, and invalid UTF-8 cannot be written to
// results.json (found by the config fuzzer). Names the line and column of the first bad byte.
void check_text(const std::string& text, const std::string& name) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t n = c == 0 ? 0 : xai::text::valid_utf8_length(text, i);
    if (n == 0) {
      throw Error(str_cat(name, ":", line, ": invalid YAML (column ", i - line_start + 1,
                          "): ", c == 0 ? "a NUL byte" : "bytes that are not UTF-8",
                          " (HINT: save the file as UTF-8 text)"));
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
    i += n;
  }
}

// Parses one YAML document; a malformed file names the file, the line and yaml-cpp's message.
YAML::Node parse_document(const std::string& text, const std::string& name) {
  check_text(text, name);
  try {
    // First the documents are counted, then the one is loaded; YAML::LoadAll is never used (see
    // DocumentCounter). A document that is one null where the previous one ended is the parser
    // stuck on a token it cannot place, not a real document.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.documents() < 1000 && parser.HandleNextDocument(counter)) {
      if (counter.stuck()) invalid_yaml(name, counter.last(), "unexpected character");
    }
    XAI_CHECK(counter.documents() <= 1, name, ": holds ", counter.documents(),
              counter.documents() >= 1000 ? " or more" : "",
              " YAML documents, expected one. HINT: remove the '---' separators");
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    invalid_yaml(name, e.mark, e.msg);
  }
}

// Merges `overlay` onto `base`: mappings key by key, anything else replaced by the overlay.
void merge(Value& base, Value overlay) {
  if (base.kind != Value::Kind::kMapping || overlay.kind != Value::Kind::kMapping) {
    base = std::move(overlay);
    return;
  }
  base.origin = overlay.origin;
  base.line = overlay.line;
  base.source = overlay.source;
  for (Entry& e : overlay.entries) {
    auto it = std::find_if(base.entries.begin(), base.entries.end(),
                           [&](const Entry& b) { return b.key == e.key; });
    if (it == base.entries.end()) {
      base.entries.push_back(std::move(e));
    } else {
      it->origin = e.origin;
      it->line = e.line;
      merge(it->value, std::move(e.value));
    }
  }
}

std::string read_file(const std::string& path, const std::string& included_by, int line) {
  const std::string context =
      included_by.empty() ? std::string() : str_cat(where(included_by, line, "include"));
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw Error(
        str_cat(context, "config file not found: ", path,
                included_by.empty() ? std::string() : " (included by " + included_by + ")"));
  }
  if (fs::is_directory(path, ec)) {
    throw Error(str_cat(context, "config path is a directory, expected a YAML file: ", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(str_cat(context, "cannot read config file ", path, ": ", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Loader {
  // The files being loaded, outermost first, for cycle detection: (canonical, display name).
  std::vector<std::pair<std::string, std::string>> stack;

  Value load_text(const std::string& text, const std::string& name) {
    std::error_code ec;
    std::string canonical = fs::weakly_canonical(fs::absolute(name, ec), ec).string();
    if (canonical.empty()) canonical = name;
    stack.emplace_back(canonical, name);

    Budget budget;
    Value own = convert(parse_document(text, name), name, true, "", budget);
    if (own.kind == Value::Kind::kNull) {  // an empty file is an empty mapping
      own.kind = Value::Kind::kMapping;
      own.line = 0;
    }
    if (own.kind != Value::Kind::kMapping) {
      throw Error(str_cat(where(name, own.line, ""), "expected a mapping of keys at the top, got ",
                          describe(own)));
    }

    Value merged;
    auto inc = std::find_if(own.entries.begin(), own.entries.end(),
                            [](const Entry& e) { return e.key == "include"; });
    if (inc != own.entries.end()) {
      const Entry include = std::move(*inc);
      own.entries.erase(inc);
      std::vector<std::pair<std::string, int>> files;  // (path as written, line)
      const Value& iv = include.value;
      if (iv.kind == Value::Kind::kScalar) {
        files.emplace_back(iv.text, iv.line);
      } else if (iv.kind == Value::Kind::kSequence) {
        for (size_t i = 0; i < iv.items.size(); ++i) {
          const Value& item = iv.items[i];
          if (item.kind != Value::Kind::kScalar) {
            throw Error(str_cat(where(name, item.line, str_cat("include[", i, "]")),
                                "expected a file name, got ", describe(item)));
          }
          files.emplace_back(item.text, item.line);
        }
      } else if (iv.kind != Value::Kind::kNull) {
        throw Error(str_cat(where(name, iv.line, "include"),
                            "expected a file name or a list of file names, got ", describe(iv)));
      }
      for (const auto& [file, line] : files) {
        const fs::path dir = fs::path(name).parent_path();
        const fs::path resolved = fs::path(file).is_absolute() ? fs::path(file) : dir / file;
        merge(merged, load_included(resolved.lexically_normal().string(), name, line));
      }
    }
    merge(merged, std::move(own));
    stack.pop_back();
    return merged;
  }

  Value load_included(const std::string& path, const std::string& included_by, int line) {
    std::error_code ec;
    const std::string canonical = fs::weakly_canonical(fs::absolute(path, ec), ec).string();
    for (size_t i = 0; i < stack.size(); ++i) {
      if (stack[i].first == canonical) {
        std::string cycle;
        for (size_t j = i; j < stack.size(); ++j) cycle += stack[j].second + " -> ";
        throw Error(str_cat(where(included_by, line, "include"), "include cycle: ", cycle, path));
      }
    }
    return load_text(read_file(path, included_by, line), path);
  }
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// One step of an override path: a key followed by any number of list indices.
struct Step {
  std::string key;
  std::vector<size_t> indices;
};

std::vector<Step> parse_override_path(const std::string& path, const std::string& label) {
  const auto bad = [&](const std::string& why) {
    return Error(str_cat(label, ": invalid override path '", path, "': ", why,
                         ". HINT: write --set a.b[0].c=value"));
  };
  if (path.empty()) throw bad("the path is empty");
  std::vector<Step> steps;
  size_t i = 0;
  while (true) {
    Step step;
    while (i < path.size() && path[i] != '.' && path[i] != '[' && path[i] != ']') {
      step.key += path[i++];
    }
    if (step.key.empty()) throw bad(str_cat("expected a key at character ", i + 1));
    while (i < path.size() && path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string::npos) throw bad("unclosed '['");
      const std::string digits = path.substr(i + 1, close - i - 1);
      size_t index = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
        throw bad(str_cat("'[", digits, "]' is not a list index"));
      }
      step.indices.push_back(index);
      i = close + 1;
    }
    steps.push_back(std::move(step));
    if (i == path.size()) break;
    if (path[i] != '.') throw bad(str_cat("unexpected '", path[i], "' at character ", i + 1));
    ++i;
  }
  return steps;
}

void set_source(Value& v, const std::string& source) {
  v.source = source;
  for (Value& item : v.items) set_source(item, source);
  for (Entry& e : v.entries) set_source(e.value, source);
}

}  // namespace

std::string where(const std::string& origin, int line, const std::string& path) {
  std::string s = origin;
  if (line > 0) s += ":" + std::to_string(line);
  if (!s.empty()) s += ": ";
  if (!path.empty()) s += path + ": ";
  return s;
}

std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kSequence:
      return "a list";
    case Value::Kind::kMapping:
      return "a mapping";
    case Value::Kind::kScalar:
      break;
  }
  std::string text;  // one line, however the scalar was written
  for (char c : v.text.size() > 60 ? v.text.substr(0, 57) + "..." : v.text) {
    text += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return v.quoted ? "\"" + text + "\" (a string)" : "'" + text + "'";
}

const Entry* find_entry(const Value& mapping, const std::string& key) {
  for (const Entry& e : mapping.entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool looks_like_int(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  const auto all = [&](size_t from, auto pred) {
    if (from >= s.size()) return false;
    for (size_t j = from; j < s.size(); ++j) {
      if (!pred(static_cast<unsigned char>(s[j]))) return false;
    }
    return true;
  };
  if (s.compare(i, 2, "0x") == 0) return all(i + 2, [](int c) { return std::isxdigit(c) != 0; });
  if (s.compare(i, 2, "0o") == 0) return all(i + 2, [](int c) { return c >= '0' && c <= '7'; });
  return all(i, [](int c) { return std::isdigit(c) != 0; });
}

std::optional<int64_t> parse_int(const std::string& s) {
  if (!looks_like_int(s)) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    ++i;
  }
  int base = 10;
  if (s.compare(i, 2, "0x") == 0) {
    base = 16;
    i += 2;
  } else if (s.compare(i, 2, "0o") == 0) {
    base = 8;
    i += 2;
  }
  // Parse the magnitude unsigned so that INT64_MIN reads.
  uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), magnitude, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (magnitude > limit) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

namespace {

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, the YAML 1.2 core float (without .inf/.nan).
bool looks_like_float(const std::string& s) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t from = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i - from;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t fraction = digits();
    if (mantissa == 0 && fraction == 0) return false;
    mantissa += fraction;
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

}  // namespace

std::optional<double> parse_float(const std::string& s) {
  if (auto i = parse_int(s)) return static_cast<double>(*i);
  const std::string body = !s.empty() && (s[0] == '+' || s[0] == '-') ? s.substr(1) : s;
  if (body == ".inf" || body == ".Inf" || body == ".INF") return s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::nan("");
  if (!looks_like_float(s)) return std::nullopt;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);  // from_chars takes no '+'
  double d = 0;
  const auto [end, ec] = std::from_chars(begin, s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return d;
}

std::optional<bool> parse_bool(const std::string& s) {
  static const char* const kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
  static const char* const kFalse[] = {"false", "False", "FALSE", "no", "No",
                                       "NO",    "off",   "Off",   "OFF"};
  for (const char* t : kTrue) {
    if (s == t) return true;
  }
  for (const char* f : kFalse) {
    if (s == f) return false;
  }
  return std::nullopt;
}

bool is_null_word(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

Value load_file(const std::string& path) {
  Loader loader;
  return loader.load_text(read_file(path, "", 0), path);
}

Value load_text(const std::string& text, const std::string& name) {
  Loader loader;
  return loader.load_text(text, name);
}

void apply_override(Value& root, const std::string& override_text) {
  const std::string label = "--set " + override_text;
  const size_t eq = override_text.find('=');
  if (eq == std::string::npos) {
    throw Error(str_cat(label, ": invalid override, expected path=value (e.g. --set ",
                        "explainers[0].factor=0.2)"));
  }
  const std::string path = trim(override_text.substr(0, eq));
  const std::vector<Step> steps = parse_override_path(path, label);

  check_text(override_text, label);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(override_text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw Error(str_cat(label, ": the value is not valid YAML: ", e.msg));
  }

  Value* cur = &root;
  std::string cur_path;
  for (const Step& step : steps) {
    if (cur->kind == Value::Kind::kNull) {  // a missing mapping is created
      cur->kind = Value::Kind::kMapping;
      cur->origin = label;
      cur->line = 0;
    }
    if (cur->kind != Value::Kind::kMapping) {
      throw Error(str_cat(label, ": ", cur_path.empty() ? std::string("the top level") : cur_path,
                          " is ", describe(*cur), ", not a mapping, so it has no key '", step.key,
                          "'"));
    }
    const std::string source = cur->source;
    cur_path = join_key(cur_path, step.key);
    auto it = std::find_if(cur->entries.begin(), cur->entries.end(),
                           [&](const Entry& e) { return e.key == step.key; });
    if (it == cur->entries.end()) {
      Value fresh;
      fresh.origin = label;
      fresh.source = source;
      cur->entries.push_back(Entry{step.key, label, 0, std::move(fresh)});
      it = cur->entries.end() - 1;
    }
    cur = &it->value;
    for (size_t index : step.indices) {
      if (cur->kind != Value::Kind::kSequence) {
        throw Error(str_cat(label, ": ", cur_path, " is ", describe(*cur),
                            ", not a list, so it has no index [", index, "]"));
      }
      if (index >= cur->items.size()) {
        throw Error(str_cat(label, ": ", cur_path, "[", index, "]: index out of range (", cur_path,
                            " has ", cur->items.size(), " elements)"));
      }
      cur_path += "[" + std::to_string(index) + "]";
      cur = &cur->items[index];
    }
  }
  const std::string source = cur->source.empty() ? root.source : cur->source;
  Budget budget;
  *cur = convert(parsed, label, false, cur_path, budget);
  set_source(*cur, source);
}

}  // namespace xai::config_detail
