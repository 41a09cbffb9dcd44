// Private to framework/config: the merged YAML tree with the file and line of every value, built
// from yaml-cpp nodes, with `include:` merging and `--set` overrides applied.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xai::config_detail {

struct Entry;

// One value of the merged tree. yaml-cpp marks carry no file name and do not survive merging, so
// the tree is copied into this form once, with the origin of every value.
struct Value {
  enum class Kind { kNull, kScalar, kSequence, kMapping };
  Kind kind = Kind::kNull;
  std::string text;            // scalars: the text as written
  bool quoted = false;         // a quoted (or !!str) scalar, which is always a string
  std::vector<Value> items;    // sequences
  std::vector<Entry> entries;  // mappings, in file order
  std::string origin;          // for messages: the file, or "--set a.b=1" for an override
  int line = 0;                // 1-based; 0 when unknown (override values)
  std::string source;          // the file that set it (an override's value: the enclosing file)
};

struct Entry {
  std::string key;
  std::string origin;  // where the key was written
  int line = 0;
  Value value;
};

// Reads a YAML file and merges its includes (see Config::load).
Value load_file(const std::string& path);
// Parses YAML text named `name` (includes resolve relative to name's folder).
Value load_text(const std::string& text, const std::string& name);
// Applies one "a.b[1].c=value" override to the root mapping.
void apply_override(Value& root, const std::string& override_text);

// "file:12: path: ", leaving out the parts that are unknown or empty.
std::string where(const std::string& origin, int line, const std::string& path);
// How a value reads in a message: 'abc', "abc" (quoted), a mapping, a list, null.
std::string describe(const Value& v);
const Entry* find_entry(const Value& mapping, const std::string& key);

// YAML 1.2 core schema scalars (plus yaml-cpp's yes/no/on/off booleans).
bool looks_like_int(const std::string& s);
std::optional<int64_t> parse_int(const std::string& s);   // nullopt if not an int or out of range
std::optional<double> parse_float(const std::string& s);  // ints and floats, .inf, .nan
std::optional<bool> parse_bool(const std::string& s);
bool is_null_word(const std::string& s);

}  // namespace xai::config_detail
