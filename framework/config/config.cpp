// ConfigNode reads, the record of what was read (for unknown-key errors and the resolved output),
// and the resolved YAML/JSON writers.
#include "framework/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config_tree.h"

namespace xai {
namespace config_detail {

using Json = nlohmann::ordered_json;

// What a component read for one key, in first-read order.
struct Resolved {
  enum class Kind { kLeaf, kChild, kChildren };
  std::string key;
  Kind kind = Kind::kLeaf;
  Json leaf;                       // kLeaf: the value used
  std::string child;               // kChild: the child's path
  std::vector<std::string> items;  // kChildren: the elements' paths
};

// Everything known about the mapping at one path.
struct NodeRecord {
  const Value* value = nullptr;  // the mapping, or nullptr when it is absent
  std::string source;            // ConfigNode::source()
  std::string origin;            // where to point messages about keys missing here
  int line = 0;
  std::vector<std::string> asked;  // every key some call asked for, in order
  std::vector<Resolved> resolved;
};

struct State {
  Value tree;
  std::map<std::string, NodeRecord> nodes;  // by path; "" is the root
};

namespace {

std::string join_key(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

NodeRecord& record_of(State& state, const std::string& path) {
  auto it = state.nodes.find(path);
  XAI_CHECK(it != state.nodes.end(), "config: no node at path '", path, "' (internal error)");
  return it->second;
}

// Marks `key` as asked and returns its entry, or nullptr when the key is absent.
const Entry* ask(NodeRecord& rec, const std::string& key) {
  if (std::find(rec.asked.begin(), rec.asked.end(), key) == rec.asked.end()) {
    rec.asked.push_back(key);
  }
  return rec.value ? find_entry(*rec.value, key) : nullptr;
}

// The value of `key`, or nullptr when it is absent or null.
const Value* ask_value(NodeRecord& rec, const std::string& key) {
  const Entry* e = ask(rec, key);
  return e && e->value.kind != Value::Kind::kNull ? &e->value : nullptr;
}

Resolved& resolved_slot(NodeRecord& rec, const std::string& key) {
  for (Resolved& r : rec.resolved) {
    if (r.key == key) return r;
  }
  rec.resolved.emplace_back();
  rec.resolved.back().key = key;
  return rec.resolved.back();
}

void record_leaf(NodeRecord& rec, const std::string& key, Json value) {
  Resolved& r = resolved_slot(rec, key);
  r.kind = Resolved::Kind::kLeaf;
  r.leaf = std::move(value);
}

[[noreturn]] void type_error(const Value& v, const std::string& path, const std::string& expected,
                             const std::string& hint = "") {
  throw Error(
      str_cat(where(v.origin, v.line, path), "expected ", expected, ", got ", describe(v), hint));
}

std::string quoted_hint(const Value& v) { return v.quoted ? ". HINT: remove the quotes" : ""; }

std::string as_string(const Value& v, const std::string& path) {
  if (v.kind != Value::Kind::kScalar) type_error(v, path, "a string");
  return v.text;
}

int64_t as_int(const Value& v, const std::string& path) {
  if (v.kind == Value::Kind::kScalar && !v.quoted) {
    if (auto i = parse_int(v.text)) return *i;
    if (looks_like_int(v.text)) type_error(v, path, "an integer", " (out of the 64-bit range)");
  }
  type_error(v, path, "an integer", v.quoted && parse_int(v.text) ? quoted_hint(v) : "");
}

double as_double(const Value& v, const std::string& path) {
  if (v.kind == Value::Kind::kScalar && !v.quoted) {
    if (auto d = parse_float(v.text)) return *d;
  }
  type_error(v, path, "a number", v.quoted && parse_float(v.text) ? quoted_hint(v) : "");
}

bool as_bool(const Value& v, const std::string& path) {
  if (v.kind == Value::Kind::kScalar && !v.quoted) {
    if (auto b = parse_bool(v.text)) return *b;
  }
  type_error(v, path, "true or false", v.quoted && parse_bool(v.text) ? quoted_hint(v) : "");
}

// A list read: a sequence, or a single scalar taken as a one-element list.
template <typename T, typename Fn>
std::vector<T> as_list(const Value& v, const std::string& path, Fn element) {
  std::vector<T> out;
  if (v.kind == Value::Kind::kScalar) {
    out.push_back(element(v, path));
  } else if (v.kind == Value::Kind::kSequence) {
    for (size_t i = 0; i < v.items.size(); ++i) {
      out.push_back(element(v.items[i], index_path(path, i)));
    }
  } else {
    type_error(v, path, "a list");
  }
  return out;
}

std::string unknown_key_message(const Entry& e, const std::string& path,
                                const std::vector<std::string>& valid) {
  std::string msg = where(e.origin, e.line, join_key(path, e.key)) + "unknown key";
  const std::string near = cli::nearest(e.key, valid);
  if (!near.empty()) {
    msg += " (did you mean '" + near + "'?)";
  } else if (!valid.empty()) {
    msg += " (valid keys here: ";
    for (size_t i = 0; i < valid.size(); ++i) msg += (i ? ", " : "") + valid[i];
    msg += ")";
  } else {
    msg += path.empty() ? " (nothing reads this file's keys)"
                        : " (nothing reads any key under '" + path + "')";
  }
  return msg;
}

void check_mapping(const State& state, const Value& mapping, const std::string& path, bool recurse);

void check_value(const State& state, const Value& v, const std::string& path) {
  if (v.kind == Value::Kind::kMapping) {
    check_mapping(state, v, path, true);
  } else if (v.kind == Value::Kind::kSequence) {
    for (size_t i = 0; i < v.items.size(); ++i) check_value(state, v.items[i], index_path(path, i));
  }
}

// Throws for the first key of `mapping` that nobody asked for; with `recurse`, also below it.
void check_mapping(const State& state, const Value& mapping, const std::string& path,
                   bool recurse) {
  static const std::vector<std::string> kNone;
  auto it = state.nodes.find(path);
  const std::vector<std::string>& asked = it == state.nodes.end() ? kNone : it->second.asked;
  for (const Entry& e : mapping.entries) {
    if (std::find(asked.begin(), asked.end(), e.key) == asked.end()) {
      throw Error(unknown_key_message(e, path, asked));
    }
    if (recurse) check_value(state, e.value, join_key(path, e.key));
  }
}

Json resolved_json_of(const State& state, const std::string& path) {
  Json out = Json::object();
  auto it = state.nodes.find(path);
  if (it == state.nodes.end()) return out;
  for (const Resolved& r : it->second.resolved) {
    switch (r.kind) {
      case Resolved::Kind::kLeaf:
        out[r.key] = r.leaf;
        break;
      case Resolved::Kind::kChild:
        out[r.key] = resolved_json_of(state, r.child);
        break;
      case Resolved::Kind::kChildren: {
        Json list = Json::array();
        for (const std::string& item : r.items) list.push_back(resolved_json_of(state, item));
        out[r.key] = std::move(list);
        break;
      }
    }
  }
  return out;
}

// A string that YAML would read back as something else (a number, a bool, null, or, at the start
// of a line, a document marker: "--- dataset" as a key) must be quoted.
bool needs_quotes(const std::string& s) {
  return is_null_word(s) || parse_bool(s) || parse_float(s) || s == "y" || s == "n" || s == "Y" ||
         s == "N" || s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0;
}

std::string format_double(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  return Json(d).dump();  // shortest text that reads back exactly, with a '.0' for whole numbers
}

void emit(YAML::Emitter& out, const Json& j) {
  switch (j.type()) {
    case Json::value_t::object:
      if (j.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [key, value] : j.items()) {
        out << YAML::Key;
        if (needs_quotes(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        emit(out, value);
      }
      out << YAML::EndMap;
      break;
    case Json::value_t::array: {
      const bool flat = std::none_of(j.begin(), j.end(),
                                     [](const Json& e) { return e.is_object() || e.is_array(); });
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const Json& e : j) emit(out, e);
      out << YAML::EndSeq;
      break;
    }
    case Json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (needs_quotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case Json::value_t::boolean:
      out << (j.get<bool>() ? "true" : "false");
      break;
    case Json::value_t::number_integer:
      out << j.get<int64_t>();
      break;
    case Json::value_t::number_unsigned:
      out << j.get<uint64_t>();
      break;
    case Json::value_t::number_float:
      out << format_double(j.get<double>());
      break;
    default:
      out << YAML::Null;
      break;
  }
}

bool iequals(const std::string& a, const char* b) {
  const size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

}  // namespace
}  // namespace config_detail

using config_detail::Json;
using config_detail::NodeRecord;
using config_detail::Value;

std::string ConfigNode::source() const { return config_detail::record_of(*state_, path_).source; }

bool ConfigNode::has(const std::string& key) const {
  return config_detail::ask_value(config_detail::record_of(*state_, path_), key) != nullptr;
}

std::string ConfigNode::where(const std::string& key) const {
  const NodeRecord& rec = config_detail::record_of(*state_, path_);
  const config_detail::Entry* e = rec.value ? config_detail::find_entry(*rec.value, key) : nullptr;
  const std::string path = config_detail::join_key(path_, key);
  if (e) return config_detail::where(e->value.origin, e->value.line, path);
  return config_detail::where(rec.origin, rec.line, path);
}

std::string ConfigNode::get_string(const std::string& key, const std::string& fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::string result =
      v ? config_detail::as_string(*v, config_detail::join_key(path_, key)) : fallback;
  config_detail::record_leaf(rec, key, result);
  return result;
}

int64_t ConfigNode::get_int(const std::string& key, int64_t fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const int64_t result =
      v ? config_detail::as_int(*v, config_detail::join_key(path_, key)) : fallback;
  config_detail::record_leaf(rec, key, result);
  return result;
}

double ConfigNode::get_double(const std::string& key, double fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const double result =
      v ? config_detail::as_double(*v, config_detail::join_key(path_, key)) : fallback;
  config_detail::record_leaf(rec, key, Json(result));
  return result;
}

bool ConfigNode::get_bool(const std::string& key, bool fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const bool result =
      v ? config_detail::as_bool(*v, config_detail::join_key(path_, key)) : fallback;
  config_detail::record_leaf(rec, key, result);
  return result;
}

std::vector<std::string> ConfigNode::get_string_list(
    const std::string& key, const std::vector<std::string>& fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::vector<std::string> result =
      v ? config_detail::as_list<std::string>(*v, config_detail::join_key(path_, key),
                                              config_detail::as_string)
        : fallback;
  config_detail::record_leaf(rec, key, Json(result));
  return result;
}

std::vector<int64_t> ConfigNode::get_int_list(const std::string& key,
                                              const std::vector<int64_t>& fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::vector<int64_t> result =
      v ? config_detail::as_list<int64_t>(*v, config_detail::join_key(path_, key),
                                          config_detail::as_int)
        : fallback;
  config_detail::record_leaf(rec, key, Json(result));
  return result;
}

std::vector<double> ConfigNode::get_double_list(const std::string& key,
                                                const std::vector<double>& fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::vector<double> result =
      v ? config_detail::as_list<double>(*v, config_detail::join_key(path_, key),
                                         config_detail::as_double)
        : fallback;
  Json list = Json::array();
  for (double d : result) list.push_back(Json(d));
  config_detail::record_leaf(rec, key, std::move(list));
  return result;
}

std::optional<double> ConfigNode::get_optional_double(const std::string& key,
                                                      std::optional<double> fallback) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const config_detail::Entry* e = config_detail::ask(rec, key);
  std::optional<double> result = fallback;
  if (e) {
    const Value& v = e->value;
    if (v.kind == Value::Kind::kNull ||
        (v.kind == Value::Kind::kScalar &&
         (config_detail::iequals(v.text, "off") || config_detail::iequals(v.text, "none") ||
          config_detail::iequals(v.text, "null")))) {
      result = std::nullopt;
    } else if (v.kind == Value::Kind::kScalar && !v.quoted && config_detail::parse_float(v.text)) {
      result = config_detail::parse_float(v.text);
    } else {
      config_detail::type_error(v, config_detail::join_key(path_, key),
                                "a number or off (null, none)");
    }
  }
  config_detail::record_leaf(rec, key, result ? Json(*result) : Json());
  return result;
}

std::string ConfigNode::get_choice(const std::string& key, const std::string& fallback,
                                   const std::vector<std::string>& choices) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  std::string result = fallback;
  if (v) {
    const std::string path = config_detail::join_key(path_, key);
    result = config_detail::as_string(*v, path);
    if (std::find(choices.begin(), choices.end(), result) == choices.end()) {
      std::string list;
      for (size_t i = 0; i < choices.size(); ++i) list += (i ? ", " : "") + choices[i];
      const std::string near = cli::nearest(result, choices);
      throw Error(str_cat(config_detail::where(v->origin, v->line, path), "expected one of ", list,
                          ", got ", config_detail::describe(*v),
                          near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
    }
  }
  config_detail::record_leaf(rec, key, result);
  return result;
}

std::string ConfigNode::require_string(const std::string& key) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::string path = config_detail::join_key(path_, key);
  if (!v) {
    throw Error(str_cat(
        config_detail::where(rec.origin, rec.line, path), "required key is missing. HINT: add '",
        key, ": ...'",
        path_.empty() ? std::string(" at the top level") : str_cat(" under '", path_, "'")));
  }
  const std::string result = config_detail::as_string(*v, path);
  config_detail::record_leaf(rec, key, result);
  return result;
}

ConfigNode ConfigNode::child(const std::string& key) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const config_detail::Entry* e = config_detail::ask(rec, key);
  const std::string path = config_detail::join_key(path_, key);
  const Value* v = e && e->value.kind != Value::Kind::kNull ? &e->value : nullptr;
  if (v && v->kind != Value::Kind::kMapping) config_detail::type_error(*v, path, "a mapping");
  auto [it, inserted] = state_->nodes.try_emplace(path);
  if (inserted) {
    NodeRecord& c = it->second;
    c.value = v;
    c.source = v ? v->source : rec.source;
    c.origin = e ? e->origin : rec.origin;
    c.line = e ? e->line : rec.line;
  }
  config_detail::Resolved& r = config_detail::resolved_slot(rec, key);
  r.kind = config_detail::Resolved::Kind::kChild;
  r.child = path;
  return ConfigNode(state_, path);
}

std::vector<ConfigNode> ConfigNode::children(const std::string& key) const {
  NodeRecord& rec = config_detail::record_of(*state_, path_);
  const Value* v = config_detail::ask_value(rec, key);
  const std::string path = config_detail::join_key(path_, key);
  std::vector<ConfigNode> out;
  std::vector<std::string> item_paths;
  if (v) {
    if (v->kind != Value::Kind::kSequence) {
      config_detail::type_error(*v, path, "a list of mappings",
                                v->kind == Value::Kind::kMapping
                                    ? ". HINT: start the mapping with '- ' to make a list of one"
                                    : "");
    }
    for (size_t i = 0; i < v->items.size(); ++i) {
      const Value& item = v->items[i];
      const std::string item_path = config_detail::index_path(path, i);
      if (item.kind != Value::Kind::kMapping) {
        config_detail::type_error(item, item_path, "a mapping");
      }
      auto [it, inserted] = state_->nodes.try_emplace(item_path);
      if (inserted) {
        it->second.value = &item;
        it->second.source = item.source;
        it->second.origin = item.origin;
        it->second.line = item.line;
      }
      item_paths.push_back(item_path);
      out.push_back(ConfigNode(state_, item_path));
    }
  }
  config_detail::Resolved& r = config_detail::resolved_slot(rec, key);
  r.kind = config_detail::Resolved::Kind::kChildren;
  r.items = std::move(item_paths);
  return out;
}

bool ConfigNode::is_mapping(const std::string& key) const {
  const Value* v = config_detail::ask_value(config_detail::record_of(*state_, path_), key);
  return v && v->kind == Value::Kind::kMapping;
}

std::vector<std::string> ConfigNode::keys() const {
  const NodeRecord& rec = config_detail::record_of(*state_, path_);
  std::vector<std::string> out;
  if (rec.value) {
    for (const config_detail::Entry& e : rec.value->entries) out.push_back(e.key);
  }
  return out;
}

void ConfigNode::finish() const {
  const NodeRecord& rec = config_detail::record_of(*state_, path_);
  if (rec.value) config_detail::check_mapping(*state_, *rec.value, path_, false);
}

namespace {

std::shared_ptr<config_detail::State> make_state(config_detail::Value tree,
                                                 const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) config_detail::apply_override(tree, o);
  auto state = std::make_shared<config_detail::State>();
  state->tree = std::move(tree);
  NodeRecord& root = state->nodes[""];
  root.value = &state->tree;
  root.source = state->tree.source;
  root.origin = state->tree.origin;
  return state;
}

}  // namespace

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  Config c;
  c.state_ = make_state(config_detail::load_file(path), overrides);
  return c;
}

Config Config::parse(const std::string& yaml_text, const std::string& source_name,
                     const std::vector<std::string>& overrides) {
  Config c;
  c.state_ = make_state(config_detail::load_text(yaml_text, source_name), overrides);
  return c;
}

ConfigNode Config::root() const {
  XAI_CHECK(state_, "config: root() on a Config that was never loaded");
  return ConfigNode(state_, "");
}

void Config::finish_all() const {
  XAI_CHECK(state_, "config: finish_all() on a Config that was never loaded");
  config_detail::check_mapping(*state_, state_->tree, "", true);
}

std::string Config::resolved_yaml() const {
  XAI_CHECK(state_, "config: resolved_yaml() on a Config that was never loaded");
  YAML::Emitter out;
  out << YAML::LowerNull;
  config_detail::emit(out, config_detail::resolved_json_of(*state_, ""));
  XAI_CHECK(out.good(), "config: cannot write the resolved YAML: ", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

std::string Config::resolved_json() const {
  XAI_CHECK(state_, "config: resolved_json() on a Config that was never loaded");
  // Strings are UTF-8 (the loader checks); replace rather than throw should one slip through.
  return config_detail::resolved_json_of(*state_, "")
             .dump(2, ' ', false, Json::error_handler_t::replace) +
         "\n";
}

}  // namespace xai
