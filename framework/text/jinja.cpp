// See jinja.h. A lexer that cuts the template into text and tags (whitespace control applied),
// a recursive-descent parser into a small tree, and an evaluator over JSON values with Python's
// semantics.
#include "framework/text/jinja.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "framework/common/error.h"

namespace xai::jinja {
namespace {

using json = nlohmann::ordered_json;

// ---- values ----------------------------------------------------------------------------------

// A value: JSON, or undefined, or a namespace (shared: `set ns.x` changes it for every holder),
// or a callable (a bound method or a global function).
struct Value {
  enum class Kind { kUndefined, kJson, kNamespace, kCallable };
  Kind kind = Kind::kUndefined;
  json j;
  std::shared_ptr<json> ns;
  std::function<Value(std::vector<Value>&, std::vector<std::pair<std::string, Value>>&)> call;

  static Value undefined() { return Value(); }
  static Value of(json v) {
    Value x;
    x.kind = Kind::kJson;
    x.j = std::move(v);
    return x;
  }
  bool defined() const { return kind != Kind::kUndefined; }
  // The JSON of the value (a namespace's attributes; undefined: null).
  const json& data() const {
    static const json null;
    return kind == Kind::kNamespace ? *ns : kind == Kind::kJson ? j : null;
  }
};

using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;

std::string python_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  for (int p = 1; p <= 17; ++p) {  // the shortest text that reads back the same (Python's repr)
    std::snprintf(buf, sizeof buf, "%.*g", p, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  const size_t e = s.find('e');
  if (e != std::string::npos) {  // Python writes 1e-05, 1e+16
    std::string mant = s.substr(0, e), ex = s.substr(e + 1);
    const char sign = ex[0] == '-' ? '-' : '+';
    if (ex[0] == '-' || ex[0] == '+') ex = ex.substr(1);
    while (ex.size() > 2 && ex[0] == '0') ex = ex.substr(1);
    return mant + "e" + sign + ex;
  }
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump(std::string& out, const json& v, int indent, int depth) {
  const std::string nl =
      indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  const std::string close =
      indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  const std::string comma = indent >= 0 ? "," : ", ";
  switch (v.type()) {
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case json::value_t::number_float:
      out += python_float(v.get<double>());
      return;
    case json::value_t::string:
      json_string(out, v.get_ref<const std::string&>());
      return;
    case json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += "[";
      bool first = true;
      for (const auto& x : v) {
        out += first ? nl : comma + nl;
        first = false;
        dump(out, x, indent, depth + 1);
      }
      out += close + "]";
      return;
    }
    case json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      out += "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += first ? nl : comma + nl;
        first = false;
        json_string(out, it.key());
        out += ": ";
        dump(out, it.value(), indent, depth + 1);
      }
      out += close + "}";
      return;
    }
    default:
      out += "null";
  }
}

// Python's str() of a value, as {{ }} prints it.
std::string py_str(const Value& v);
std::string py_repr(const json& j) {
  switch (j.type()) {
    case json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      const char q =
          s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
      std::string out(1, q);
      for (char c : s) {
        if (c == q || c == '\\') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      return out + q;
    }
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + py_repr(j[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out += (first ? "" : ", ") + py_repr(json(it.key())) + ": " + py_repr(it.value());
        first = false;
      }
      return out + "}";
    }
    default:
      return py_str(Value::of(j));
  }
}
std::string py_str(const Value& v) {
  if (!v.defined()) return "";
  if (v.kind == Value::Kind::kCallable) return "<function>";
  if (v.kind == Value::Kind::kNamespace) return "<Namespace>";
  const json& j = v.j;
  switch (j.type()) {
    case json::value_t::null:
      return "None";
    case json::value_t::boolean:
      return j.get<bool>() ? "True" : "False";
    case json::value_t::number_integer:
      return std::to_string(j.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(j.get<uint64_t>());
    case json::value_t::number_float:
      return python_float(j.get<double>());
    case json::value_t::string:
      return j.get<std::string>();
    default:
      return py_repr(j);
  }
}

bool truthy(const Value& v) {
  if (v.kind == Value::Kind::kNamespace || v.kind == Value::Kind::kCallable) return true;
  if (!v.defined()) return false;
  const json& j = v.j;
  switch (j.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return j.get<bool>();
    case json::value_t::number_integer:
      return j.get<int64_t>() != 0;
    case json::value_t::number_unsigned:
      return j.get<uint64_t>() != 0;
    case json::value_t::number_float:
      return j.get<double>() != 0;
    case json::value_t::string:
      return !j.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object:
      return !j.empty();
    default:
      return false;
  }
}

// ---- lexing ----------------------------------------------------------------------------------

struct Piece {
  enum class Kind { kText, kOutput, kTag } kind;
  std::string text;  // the text, or the tag's inside
  int line;
};

std::vector<Piece> cut(const std::string& src) {
  std::vector<Piece> out;
  size_t i = 0;
  int line = 1;
  bool strip_next = false;    // a '-' closed the previous tag
  bool trim_newline = false;  // trim_blocks: after a block tag or comment
  auto count_lines = [&](size_t a, size_t b) {
    for (size_t k = a; k < b; ++k) line += src[k] == '\n';
  };
  while (i < src.size()) {
    size_t open = std::string::npos;
    for (size_t k = i; k + 1 < src.size(); ++k) {
      if (src[k] == '{' && (src[k + 1] == '{' || src[k + 1] == '%' || src[k + 1] == '#')) {
        open = k;
        break;
      }
    }
    std::string text = src.substr(i, open == std::string::npos ? std::string::npos : open - i);
    const int text_line = line;
    count_lines(i, open == std::string::npos ? src.size() : open);
    if (trim_newline && !text.empty() && text[0] == '\n')
      text.erase(0, 1);
    else if (trim_newline && text.rfind("\r\n", 0) == 0)
      text.erase(0, 2);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      text.erase(0, k);
    }
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Piece::Kind::kText, text, text_line});
      break;
    }
    const char kind = src[open + 1];
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t end = src.find(close, open + 2);
    XAI_CHECK(end != std::string::npos, "chat template line ", line, ": '{", kind,
              "' is never closed");
    std::string inside = src.substr(open + 2, end - open - 2);
    const bool lstrip_off = !inside.empty() && inside[0] == '+';
    const bool strip_before = !inside.empty() && inside[0] == '-';
    const bool strip_after = !inside.empty() && inside.back() == '-';
    if (strip_before || lstrip_off) inside.erase(0, 1);
    if (strip_after) inside.pop_back();
    if (strip_before) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    } else if (kind != '{' && !lstrip_off) {
      // lstrip_blocks: spaces and tabs from the start of the line to a block tag or comment.
      size_t k = text.size();
      while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
      const size_t ws_start = open - (text.size() - k);
      if (ws_start == 0 || src[ws_start - 1] == '\n') text.erase(k);
    }
    if (!text.empty()) out.push_back({Piece::Kind::kText, text, text_line});
    const int tag_line = line;
    count_lines(open, end + 2);
    if (kind != '#') {
      out.push_back({kind == '{' ? Piece::Kind::kOutput : Piece::Kind::kTag, inside, tag_line});
    }
    strip_next = strip_after;
    trim_newline = kind != '{' && !strip_after;
    i = end + 2;
  }
  return out;
}

struct Token {
  enum class Kind { kName, kNumber, kString, kOp, kEnd } kind;
  std::string text;
};

std::vector<Token> tokenize(const std::string& s, int line) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t k = i;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
      out.push_back({Token::Kind::kName, s.substr(i, k - i)});
      i = k;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t k = i;
      while (k < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[k])) || s[k] == '.' || s[k] == '_'))
        ++k;
      out.push_back({Token::Kind::kNumber, s.substr(i, k - i)});
      i = k;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t k = i + 1;
      for (; k < s.size() && s[k] != c; ++k) {
        if (s[k] == '\\' && k + 1 < s.size()) {
          const char e = s[++k];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v += s[k];
        }
      }
      XAI_CHECK(k < s.size(), "chat template line ", line, ": a string is never closed");
      out.push_back({Token::Kind::kString, v});
      i = k + 1;
    } else {
      static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[",
                                   "]",  "{",  "}",  ".",  ",",  ":",  "|", "~", "+",
                                   "-",  "*",  "/",  "%",  "<",  ">",  "="};
      bool found = false;
      for (const char* op : kOps) {
        const size_t n = std::char_traits<char>::length(op);
        if (s.compare(i, n, op) == 0) {
          out.push_back({Token::Kind::kOp, op});
          i += n;
          found = true;
          break;
        }
      }
      XAI_CHECK(found, "chat template line ", line, ": unexpected character '", c, "'");
    }
  }
  out.push_back({Token::Kind::kEnd, ""});
  return out;
}

// ---- expressions -------------------------------------------------------------------------------

class Scope;
struct Expr {
  virtual ~Expr() = default;
  virtual Value eval(Scope& s) const = 0;
};
using ExprP = std::unique_ptr<Expr>;

class Scope {
 public:
  explicit Scope(const json& context) {
    frames_.emplace_back();
    for (auto it = context.begin(); it != context.end(); ++it)
      frames_[0][it.key()] = Value::of(it.value());
  }
  Value get(const std::string& name) const {
    for (auto f = frames_.rbegin(); f != frames_.rend(); ++f) {
      auto it = f->find(name);
      if (it != f->end()) return it->second;
    }
    return Value::undefined();
  }
  void set(const std::string& name, Value v) { frames_.back()[name] = std::move(v); }
  void push() { frames_.emplace_back(); }
  void pop() { frames_.pop_back(); }
  int line = 0;

 private:
  std::vector<std::map<std::string, Value>> frames_;
};

[[noreturn]] void fail(const Scope& s, const std::string& what) {
  throw Error(str_cat("chat template line ", s.line, ": ", what));
}

std::string type_name(const Value& v) {
  if (!v.defined()) return "undefined";
  if (v.kind == Value::Kind::kNamespace) return "namespace";
  if (v.kind == Value::Kind::kCallable) return "function";
  switch (v.j.type()) {
    case json::value_t::null:
      return "none";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::string:
      return "str";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "dict";
    case json::value_t::number_float:
      return "float";
    default:
      return "int";
  }
}

bool is_int(const Value& v) { return v.kind == Value::Kind::kJson && v.j.is_number_integer(); }
bool is_num(const Value& v) {
  return v.kind == Value::Kind::kJson && (v.j.is_number() || v.j.is_boolean());
}
double num(const Value& v) {
  return v.j.is_boolean() ? (v.j.get<bool>() ? 1 : 0) : v.j.get<double>();
}
int64_t inum(const Value& v) {
  return v.j.is_boolean() ? (v.j.get<bool>() ? 1 : 0) : v.j.get<int64_t>();
}
bool is_str(const Value& v) { return v.kind == Value::Kind::kJson && v.j.is_string(); }
const std::string& str(const Value& v) { return v.j.get_ref<const std::string&>(); }

bool equal(const Value& a, const Value& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  if (is_num(a) && is_num(b)) return num(a) == num(b);
  return a.data() == b.data();
}

// Item access: a dict's key, a list's or string's index (negative from the end); else undefined.
Value item(const Value& on, const Value& key) {
  const json& j = on.data();
  if (j.is_object() && is_str(key)) {
    auto it = j.find(str(key));
    return it == j.end() ? Value::undefined() : Value::of(*it);
  }
  if ((j.is_array() || j.is_string()) && is_int(key)) {
    const int64_t n = j.is_array() ? static_cast<int64_t>(j.size())
                                   : static_cast<int64_t>(j.get_ref<const std::string&>().size());
    int64_t k = inum(key);
    if (k < 0) k += n;
    if (k < 0 || k >= n) return Value::undefined();
    return j.is_array()
               ? Value::of(j[static_cast<size_t>(k)])
               : Value::of(std::string(1, j.get_ref<const std::string&>()[static_cast<size_t>(k)]));
  }
  return Value::undefined();
}

std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right) {
  auto in = [&](char c) {
    return chars.empty() ? std::isspace(static_cast<unsigned char>(c)) != 0
                         : chars.find(c) != std::string::npos;
  };
  size_t b = 0, e = s.size();
  while (left && b < e && in(s[b])) ++b;
  while (right && e > b && in(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string case_of(const std::string& s, int how) {  // 0 lower, 1 upper, 2 title, 3 capitalize
  std::string out = s;
  bool start = true;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    if (how == 0) out[i] = static_cast<char>(std::tolower(c));
    if (how == 1) out[i] = static_cast<char>(std::toupper(c));
    if (how == 2) out[i] = static_cast<char>(start ? std::toupper(c) : std::tolower(c));
    if (how == 3) out[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
    start = !std::isalpha(c);
  }
  return out;
}

Value method(const Value& on, const std::string& name, const Scope& s);

// Attribute access: a dict's key (or a namespace's), else a method of the value; else undefined.
Value attribute(const Value& on, const std::string& name, const Scope& s) {
  const json& j = on.data();
  if (j.is_object()) {
    auto it = j.find(name);
    if (it != j.end()) return Value::of(*it);
  }
  if (on.kind == Value::Kind::kJson) return method(on, name, s);
  return Value::undefined();
}

Value method(const Value& on, const std::string& name, const Scope& s) {
  const json& j = on.j;
  Value m;
  m.kind = Value::Kind::kCallable;
  const int line = s.line;
  auto arg_str = [line](const Args& a, size_t i, const std::string& fallback) {
    if (a.size() <= i || !a[i].defined() || a[i].j.is_null()) return fallback;
    if (!is_str(a[i])) throw Error(str_cat("chat template line ", line, ": expected a string"));
    return str(a[i]);
  };
  if (j.is_string()) {
    const std::string v = j.get<std::string>();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      m.call = [v, name, arg_str](Args& a, Kwargs&) {
        return Value::of(strip_chars(v, arg_str(a, 0, ""), name != "rstrip", name != "lstrip"));
      };
    } else if (name == "startswith" || name == "endswith") {
      m.call = [v, name](Args& a, Kwargs&) {
        std::vector<std::string> options;
        if (!a.empty() && a[0].j.is_array()) {
          for (const auto& x : a[0].j) options.push_back(x.get<std::string>());
        } else if (!a.empty() && is_str(a[0])) {
          options.push_back(str(a[0]));
        }
        for (const auto& o : options) {
          const bool hit =
              name == "startswith"
                  ? v.rfind(o, 0) == 0
                  : v.size() >= o.size() && v.compare(v.size() - o.size(), o.size(), o) == 0;
          if (hit) return Value::of(true);
        }
        return Value::of(false);
      };
    } else if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      const int how = name == "lower" ? 0 : name == "upper" ? 1 : name == "title" ? 2 : 3;
      m.call = [v, how](Args&, Kwargs&) { return Value::of(case_of(v, how)); };
    } else if (name == "replace") {
      m.call = [v, arg_str](Args& a, Kwargs&) {
        const std::string from = arg_str(a, 0, ""), to = arg_str(a, 1, "");
        std::string out;
        size_t i = 0;
        if (from.empty()) return Value::of(v);
        for (size_t k; (k = v.find(from, i)) != std::string::npos; i = k + from.size())
          out += v.substr(i, k - i) + to;
        return Value::of(out + v.substr(i));
      };
    } else if (name == "split") {
      m.call = [v, arg_str](Args& a, Kwargs&) {
        const std::string sep = arg_str(a, 0, "");
        json parts = json::array();
        if (sep.empty()) {
          std::istringstream in(v);
          for (std::string w; in >> w;) parts.push_back(w);
        } else {
          size_t i = 0;
          for (size_t k; (k = v.find(sep, i)) != std::string::npos; i = k + sep.size())
            parts.push_back(v.substr(i, k - i));
          parts.push_back(v.substr(i));
        }
        return Value::of(parts);
      };
    } else {
      return Value::undefined();
    }
    return m;
  }
  if (j.is_object()) {
    if (name == "items") {
      m.call = [j](Args&, Kwargs&) {
        json out = json::array();
        for (auto it = j.begin(); it != j.end(); ++it)
          out.push_back(json::array({it.key(), it.value()}));
        return Value::of(out);
      };
    } else if (name == "keys" || name == "values") {
      m.call = [j, name](Args&, Kwargs&) {
        json out = json::array();
        for (auto it = j.begin(); it != j.end(); ++it)
          out.push_back(name == "keys" ? json(it.key()) : it.value());
        return Value::of(out);
      };
    } else if (name == "get") {
      m.call = [j](Args& a, Kwargs&) {
        if (!a.empty() && is_str(a[0])) {
          auto it = j.find(str(a[0]));
          if (it != j.end()) return Value::of(*it);
        }
        return a.size() > 1 ? a[1] : Value::of(nullptr);
      };
    } else {
      return Value::undefined();
    }
    return m;
  }
  return Value::undefined();
}

struct Literal : Expr {
  Value v;
  Value eval(Scope&) const override { return v; }
};
struct Name : Expr {
  std::string name;
  Value eval(Scope& s) const override { return s.get(name); }
};
struct ListExpr : Expr {
  std::vector<ExprP> items;
  Value eval(Scope& s) const override {
    json out = json::array();
    for (const auto& e : items) out.push_back(e->eval(s).data());
    return Value::of(out);
  }
};
struct DictExpr : Expr {
  std::vector<std::pair<ExprP, ExprP>> items;
  Value eval(Scope& s) const override {
    json out = json::object();
    for (const auto& [k, v] : items) out[py_str(k->eval(s))] = v->eval(s).data();
    return Value::of(out);
  }
};
struct Attr : Expr {
  ExprP on;
  std::string name;
  Value eval(Scope& s) const override { return attribute(on->eval(s), name, s); }
};
struct Index : Expr {
  ExprP on, key;
  Value eval(Scope& s) const override {
    const Value o = on->eval(s), k = key->eval(s);
    if (is_str(k) && o.kind == Value::Kind::kJson && !o.j.is_object()) return method(o, str(k), s);
    return item(o, k);
  }
};
struct Slice : Expr {
  ExprP on, start, stop, step;
  Value eval(Scope& s) const override {
    const Value o = on->eval(s);
    const json& j = o.data();
    if (!j.is_array() && !j.is_string()) fail(s, "only a list or a string can be sliced");
    const int64_t n = j.is_array() ? static_cast<int64_t>(j.size())
                                   : static_cast<int64_t>(j.get_ref<const std::string&>().size());
    auto opt = [&](const ExprP& e) -> std::optional<int64_t> {
      if (!e) return std::nullopt;
      const Value v = e->eval(s);
      if (!v.defined() || v.j.is_null()) return std::nullopt;
      return inum(v);
    };
    const int64_t st = opt(step).value_or(1);
    if (st == 0) fail(s, "slice step cannot be zero");
    auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
      if (!v) return fallback;
      int64_t x = *v < 0 ? *v + n : *v;
      return st > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(opt(start), st > 0 ? 0 : n - 1), e = clamp(opt(stop), st > 0 ? n : -1);
    json out = j.is_array() ? json::array() : json("");
    std::string text;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
      if (j.is_array())
        out.push_back(j[static_cast<size_t>(i)]);
      else
        text += j.get_ref<const std::string&>()[static_cast<size_t>(i)];
    }
    return Value::of(j.is_array() ? out : json(text));
  }
};

Value call_value(const Value& f, Args& a, Kwargs& k, const Scope& s) {
  if (f.kind != Value::Kind::kCallable) fail(s, "calls something that is not a function");
  return f.call(a, k);
}

struct Call : Expr {
  ExprP fn;
  std::vector<ExprP> args;
  std::vector<std::pair<std::string, ExprP>> kwargs;
  Value eval(Scope& s) const override {
    Value f = fn->eval(s);
    if (!f.defined()) {
      const auto* n = dynamic_cast<const Name*>(fn.get());
      fail(s, n ? "unknown function '" + n->name + "'" : std::string("calls an undefined value"));
    }
    Args a;
    for (const auto& e : args) a.push_back(e->eval(s));
    Kwargs k;
    for (const auto& [name, e] : kwargs) k.emplace_back(name, e->eval(s));
    return call_value(f, a, k, s);
  }
};

Value kwarg(const Kwargs& k, const std::string& name, size_t pos, const Args& a) {
  for (const auto& [n, v] : k)
    if (n == name) return v;
  return pos < a.size() ? a[pos] : Value::undefined();
}

bool run_test(const std::string& name, const Value& v, Args& args, const Scope& s) {
  const json& j = v.data();
  if (name == "defined") return v.defined();
  if (name == "undefined") return !v.defined();
  if (name == "none") return v.defined() && v.kind == Value::Kind::kJson && j.is_null();
  if (name == "string") return is_str(v);
  if (name == "number") return v.kind == Value::Kind::kJson && j.is_number();
  if (name == "integer") return is_int(v);
  if (name == "float") return v.kind == Value::Kind::kJson && j.is_number_float();
  if (name == "boolean") return v.kind == Value::Kind::kJson && j.is_boolean();
  if (name == "true") return v.kind == Value::Kind::kJson && j.is_boolean() && j.get<bool>();
  if (name == "false") return v.kind == Value::Kind::kJson && j.is_boolean() && !j.get<bool>();
  if (name == "mapping") return v.kind == Value::Kind::kNamespace || j.is_object();
  if (name == "iterable") return j.is_array() || j.is_object() || j.is_string();
  if (name == "sequence") return j.is_array() || j.is_object() || j.is_string();
  if (name == "callable") return v.kind == Value::Kind::kCallable;
  if (name == "odd" || name == "even") {
    if (!is_int(v)) fail(s, "'" + name + "' tests an integer");
    return (inum(v) % 2 != 0) == (name == "odd");
  }
  if (name == "eq" || name == "equalto" || name == "==") return !args.empty() && equal(v, args[0]);
  if (name == "ne" || name == "!=") return args.empty() || !equal(v, args[0]);
  if (name == "in") {
    if (args.empty()) return false;
    const json& c = args[0].data();
    if (c.is_string() && is_str(v))
      return c.get_ref<const std::string&>().find(str(v)) != std::string::npos;
    if (c.is_array())
      return std::any_of(c.begin(), c.end(), [&](const json& x) { return equal(Value::of(x), v); });
    if (c.is_object() && is_str(v)) return c.contains(str(v));
    return false;
  }
  fail(s, "unknown test '" + name + "'");
}

Value apply_filter(const std::string& name, const Value& v, Args& a, Kwargs& k, Scope& s);

struct Filter : Expr {
  ExprP on;
  std::string name;
  std::vector<ExprP> args;
  std::vector<std::pair<std::string, ExprP>> kwargs;
  Value eval(Scope& s) const override {
    Value v = on->eval(s);
    Args a;
    for (const auto& e : args) a.push_back(e->eval(s));
    Kwargs k;
    for (const auto& [n, e] : kwargs) k.emplace_back(n, e->eval(s));
    return apply_filter(name, v, a, k, s);
  }
};
struct Test : Expr {
  ExprP on;
  std::string name;
  bool negate = false;
  std::vector<ExprP> args;
  Value eval(Scope& s) const override {
    Value v = on->eval(s);
    Args a;
    for (const auto& e : args) a.push_back(e->eval(s));
    return Value::of(run_test(name, v, a, s) != negate);
  }
};
struct Not : Expr {
  ExprP e;
  Value eval(Scope& s) const override { return Value::of(!truthy(e->eval(s))); }
};
struct Negate : Expr {
  ExprP e;
  Value eval(Scope& s) const override {
    const Value v = e->eval(s);
    if (!is_num(v)) fail(s, "'-' needs a number, got " + type_name(v));
    return is_int(v) ? Value::of(-inum(v)) : Value::of(-num(v));
  }
};
struct Cond : Expr {
  ExprP test, yes, no;
  Value eval(Scope& s) const override {
    if (truthy(test->eval(s))) return yes->eval(s);
    return no ? no->eval(s) : Value::undefined();
  }
};

Value binary(const std::string& op, const Value& a, const Value& b, const Scope& s) {
  if (op == "~") return Value::of(py_str(a) + py_str(b));
  if (op == "==") return Value::of(equal(a, b));
  if (op == "!=") return Value::of(!equal(a, b));
  if (op == "in" || op == "not in") {
    Args args{b};
    const bool in = run_test("in", a, args, s);
    return Value::of(op == "in" ? in : !in);
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    int c = 0;
    if (is_num(a) && is_num(b)) {
      c = num(a) < num(b) ? -1 : num(a) > num(b) ? 1 : 0;
    } else if (is_str(a) && is_str(b)) {
      c = str(a).compare(str(b));
    } else {
      fail(s, "'" + op + "' compares " + type_name(a) + " with " + type_name(b));
    }
    return Value::of(op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0);
  }
  if (op == "+") {
    if (is_str(a) && is_str(b)) return Value::of(str(a) + str(b));
    if (a.data().is_array() && b.data().is_array()) {
      json out = a.data();
      for (const auto& x : b.data()) out.push_back(x);
      return Value::of(out);
    }
  }
  if (!is_num(a) || !is_num(b)) {
    fail(s,
         "'" + op + "' of " + type_name(a) + " and " + type_name(b) + " (HINT: '~' joins as text)");
  }
  const bool ints = is_int(a) && is_int(b);
  if (op == "+") return ints ? Value::of(inum(a) + inum(b)) : Value::of(num(a) + num(b));
  if (op == "-") return ints ? Value::of(inum(a) - inum(b)) : Value::of(num(a) - num(b));
  if (op == "*") return ints ? Value::of(inum(a) * inum(b)) : Value::of(num(a) * num(b));
  if (op == "/") {
    if (num(b) == 0) fail(s, "division by zero");
    return Value::of(num(a) / num(b));
  }
  if (op == "//" || op == "%") {
    if (num(b) == 0) fail(s, "division by zero");
    if (ints) {
      const int64_t x = inum(a), y = inum(b);
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // Python floors
      return Value::of(op == "//" ? q : x - q * y);
    }
    const double q = std::floor(num(a) / num(b));
    return Value::of(op == "//" ? q : num(a) - q * num(b));
  }
  if (op == "**") {
    return ints && inum(b) >= 0
               ? Value::of(static_cast<int64_t>(std::llround(std::pow(num(a), num(b)))))
               : Value::of(std::pow(num(a), num(b)));
  }
  fail(s, "unknown operator '" + op + "'");
}

struct Binary : Expr {
  std::string op;
  ExprP a, b;
  Value eval(Scope& s) const override {
    if (op == "and") {
      Value x = a->eval(s);
      return truthy(x) ? b->eval(s) : x;
    }
    if (op == "or") {
      Value x = a->eval(s);
      return truthy(x) ? x : b->eval(s);
    }
    return binary(op, a->eval(s), b->eval(s), s);
  }
};

Value apply_filter(const std::string& name, const Value& v, Args& a, Kwargs& k, Scope& s) {
  const json& j = v.data();
  if (name == "trim") {
    if (!is_str(v)) fail(s, "trim needs a string, got " + type_name(v));
    return Value::of(strip_chars(str(v), "", true, true));
  }
  if (name == "tojson") {
    const Value indent = kwarg(k, "indent", 0, a);
    return Value::of(python_json(
        j, indent.defined() && !indent.j.is_null() ? static_cast<int>(inum(indent)) : -1));
  }
  if (name == "length" || name == "count") {
    if (j.is_string())
      return Value::of(static_cast<int64_t>(j.get_ref<const std::string&>().size()));
    if (j.is_array() || j.is_object()) return Value::of(static_cast<int64_t>(j.size()));
    fail(s, "length of " + type_name(v));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    const int how = name == "lower" ? 0 : name == "upper" ? 1 : name == "title" ? 2 : 3;
    return Value::of(case_of(py_str(v), how));
  }
  if (name == "default" || name == "d") {
    const Value fallback = a.empty() ? Value::of("") : a[0];
    const bool boolean = a.size() > 1 && truthy(a[1]);
    return (!v.defined() || (boolean && !truthy(v))) ? fallback : v;
  }
  if (name == "first" || name == "last") {
    if (j.is_array())
      return j.empty() ? Value::undefined() : Value::of(name == "first" ? j.front() : j.back());
    if (j.is_string() && !j.get_ref<const std::string&>().empty()) {
      const std::string& t = j.get_ref<const std::string&>();
      return Value::of(std::string(1, name == "first" ? t.front() : t.back()));
    }
    return Value::undefined();
  }
  if (name == "join") {
    const std::string sep = a.empty() ? "" : py_str(a[0]);
    std::string out;
    bool first = true;
    for (const auto& x : j) {
      out += (first ? "" : sep) + py_str(Value::of(x));
      first = false;
    }
    return Value::of(out);
  }
  if (name == "replace") {
    Value m = method(Value::of(py_str(v)), "replace", s);
    return m.call(a, k);
  }
  if (name == "string" || name == "safe" || name == "e" || name == "escape") {
    return name == "safe" ? v : Value::of(py_str(v));
  }
  if (name == "int") {
    if (is_num(v)) return Value::of(static_cast<int64_t>(num(v)));
    if (is_str(v)) {
      try {
        return Value::of(static_cast<int64_t>(std::stoll(str(v))));
      } catch (const std::exception&) {
      }
    }
    return Value::of(0);
  }
  if (name == "float") return Value::of(is_num(v) ? num(v) : 0.0);
  if (name == "abs")
    return is_int(v) ? Value::of(std::llabs(inum(v))) : Value::of(std::fabs(num(v)));
  if (name == "round") return Value::of(std::round(num(v)));
  if (name == "list") {
    if (j.is_array()) return v;
    json out = json::array();
    if (j.is_string())
      for (char c : j.get_ref<const std::string&>()) out.push_back(std::string(1, c));
    if (j.is_object())
      for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
    return Value::of(out);
  }
  if (name == "items") return method(v, "items", s).call(a, k);
  if (name == "reverse") {
    if (j.is_string())
      return Value::of(std::string(j.get_ref<const std::string&>().rbegin(),
                                   j.get_ref<const std::string&>().rend()));
    json out = json::array();
    for (auto it = j.rbegin(); it != j.rend(); ++it) out.push_back(*it);
    return Value::of(out);
  }
  if (name == "selectattr" || name == "rejectattr") {
    if (a.empty() || !is_str(a[0])) fail(s, name + " needs an attribute name");
    json out = json::array();
    for (const auto& x : j) {
      const Value at = attribute(Value::of(x), str(a[0]), s);
      Args rest(a.begin() + std::min<size_t>(2, a.size()), a.end());
      const bool keep = a.size() > 1 ? run_test(py_str(a[1]), at, rest, s) : truthy(at);
      if (keep == (name == "selectattr")) out.push_back(x);
    }
    return Value::of(out);
  }
  if (name == "map") {
    const Value attr = kwarg(k, "attribute", 99, a);
    json out = json::array();
    for (const auto& x : j) {
      if (attr.defined()) {
        out.push_back(attribute(Value::of(x), py_str(attr), s).data());
      } else {
        Args none;
        Kwargs nk;
        out.push_back(
            apply_filter(a.empty() ? "" : py_str(a[0]), Value::of(x), none, nk, s).data());
      }
    }
    return Value::of(out);
  }
  fail(s, "unknown filter '" + name + "'");
}

// ---- parsing ---------------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Token> t, int line) : t_(std::move(t)), line_(line) {}
  bool at(const std::string& text) const {
    return t_[i_].kind != Token::Kind::kString && t_[i_].text == text;
  }
  bool at_end() const { return t_[i_].kind == Token::Kind::kEnd; }
  bool accept(const std::string& text) {
    if (!at(text)) return false;
    ++i_;
    return true;
  }
  void expect(const std::string& text) {
    if (!accept(text)) error("expected '" + text + "'");
  }
  std::string name() {
    if (t_[i_].kind != Token::Kind::kName) error("expected a name");
    return t_[i_++].text;
  }
  [[noreturn]] void error(const std::string& what) const {
    throw Error(
        str_cat("chat template line ", line_, ": ", what,
                at_end() ? std::string(" at the end of the tag") : " at '" + t_[i_].text + "'"));
  }
  ExprP expression() {
    ExprP e = or_expr();
    if (at("if")) {
      ++i_;
      auto c = std::make_unique<Cond>();
      c->yes = std::move(e);
      c->test = or_expr();
      if (accept("else")) c->no = expression();
      return c;
    }
    return e;
  }
  // A for loop's target (no 'in' operator) or the left of '=' in set.
  ExprP primary_only() { return postfix(); }

 private:
  ExprP bin(std::string op, ExprP a, ExprP b) {
    auto e = std::make_unique<Binary>();
    e->op = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }
  ExprP or_expr() {
    ExprP e = and_expr();
    while (accept("or")) e = bin("or", std::move(e), and_expr());
    return e;
  }
  ExprP and_expr() {
    ExprP e = not_expr();
    while (accept("and")) e = bin("and", std::move(e), not_expr());
    return e;
  }
  ExprP not_expr() {
    if (accept("not")) {
      auto n = std::make_unique<Not>();
      n->e = not_expr();
      return n;
    }
    return compare();
  }
  ExprP compare() {
    ExprP e = math1();
    for (;;) {
      std::string op;
      for (const char* c : {"==", "!=", "<=", ">=", "<", ">", "in"}) {
        if (at(c)) op = c;
      }
      if (op.empty() && at("not") && t_[i_ + 1].text == "in") {
        i_ += 2;
        e = bin("not in", std::move(e), math1());
        continue;
      }
      if (op.empty()) return e;
      ++i_;
      e = bin(op, std::move(e), math1());
    }
  }
  ExprP math1() {
    ExprP e = concat();
    while (at("+") || at("-")) {
      const std::string op = t_[i_++].text;
      e = bin(op, std::move(e), concat());
    }
    return e;
  }
  ExprP concat() {
    ExprP e = math2();
    while (accept("~")) e = bin("~", std::move(e), math2());
    return e;
  }
  ExprP math2() {
    ExprP e = power();
    while (at("*") || at("/") || at("//") || at("%")) {
      const std::string op = t_[i_++].text;
      e = bin(op, std::move(e), power());
    }
    return e;
  }
  ExprP power() {
    ExprP e = unary();
    while (accept("**")) e = bin("**", std::move(e), unary());
    return e;
  }
  ExprP unary() {
    if (accept("-")) {
      auto n = std::make_unique<Negate>();
      n->e = unary();
      return n;
    }
    if (accept("+")) return unary();
    return filters(postfix());
  }
  void call_args(std::vector<ExprP>& args, std::vector<std::pair<std::string, ExprP>>& kwargs) {
    while (!accept(")")) {
      if (t_[i_].kind == Token::Kind::kName && t_[i_ + 1].text == "=" &&
          t_[i_ + 1].kind == Token::Kind::kOp) {
        const std::string k = t_[i_].text;
        i_ += 2;
        kwargs.emplace_back(k, expression());
      } else {
        args.push_back(expression());
      }
      if (!at(")")) expect(",");
    }
  }
  ExprP filters(ExprP e) {
    for (;;) {
      if (accept("|")) {
        auto f = std::make_unique<Filter>();
        f->on = std::move(e);
        f->name = name();
        if (accept("(")) call_args(f->args, f->kwargs);
        e = std::move(f);
      } else if (accept("is")) {
        auto t = std::make_unique<Test>();
        t->on = std::move(e);
        t->negate = accept("not");
        if (at("==") || at("!=")) {
          t->name = t_[i_++].text;
        } else {
          t->name = name();
        }
        if (accept("(")) {
          std::vector<std::pair<std::string, ExprP>> unused;
          call_args(t->args, unused);
        } else if (!at_end() &&
                   (t_[i_].kind == Token::Kind::kString || t_[i_].kind == Token::Kind::kNumber ||
                    (t_[i_].kind == Token::Kind::kName && !at("and") && !at("or") && !at("else") &&
                     !at("if")))) {
          t->args.push_back(postfix());  // `is divisibleby 3`, `is equalto 'x'`
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }
  ExprP postfix() {
    ExprP e = atom();
    for (;;) {
      if (accept(".")) {
        auto a = std::make_unique<Attr>();
        a->on = std::move(e);
        a->name = t_[i_].kind == Token::Kind::kNumber ? t_[i_++].text : name();
        e = std::move(a);
      } else if (accept("[")) {
        ExprP first;
        if (!at(":")) first = expression();
        if (accept(":")) {
          auto sl = std::make_unique<Slice>();
          sl->on = std::move(e);
          sl->start = std::move(first);
          if (!at(":") && !at("]")) sl->stop = expression();
          if (accept(":") && !at("]")) sl->step = expression();
          expect("]");
          e = std::move(sl);
        } else {
          expect("]");
          auto ix = std::make_unique<Index>();
          ix->on = std::move(e);
          ix->key = std::move(first);
          e = std::move(ix);
        }
      } else if (accept("(")) {
        auto c = std::make_unique<Call>();
        c->fn = std::move(e);
        call_args(c->args, c->kwargs);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprP atom() {
    const Token& t = t_[i_];
    if (t.kind == Token::Kind::kString) {
      ++i_;
      std::string v = t.text;
      while (t_[i_].kind == Token::Kind::kString) v += t_[i_++].text;  // adjacent literals join
      auto l = std::make_unique<Literal>();
      l->v = Value::of(v);
      return l;
    }
    if (t.kind == Token::Kind::kNumber) {
      ++i_;
      std::string digits;
      for (char c : t.text)
        if (c != '_') digits += c;
      auto l = std::make_unique<Literal>();
      l->v = digits.find('.') != std::string::npos
                 ? Value::of(std::stod(digits))
                 : Value::of(static_cast<int64_t>(std::stoll(digits)));
      return l;
    }
    if (accept("(")) {
      ExprP e = expression();
      if (at(",")) {  // a tuple: a list here
        auto l = std::make_unique<ListExpr>();
        l->items.push_back(std::move(e));
        while (accept(",") && !at(")")) l->items.push_back(expression());
        expect(")");
        return l;
      }
      expect(")");
      return e;
    }
    if (accept("[")) {
      auto l = std::make_unique<ListExpr>();
      while (!accept("]")) {
        l->items.push_back(expression());
        if (!at("]")) expect(",");
      }
      return l;
    }
    if (accept("{")) {
      auto d = std::make_unique<DictExpr>();
      while (!accept("}")) {
        ExprP k = expression();
        expect(":");
        d->items.emplace_back(std::move(k), expression());
        if (!at("}")) expect(",");
      }
      return d;
    }
    if (t.kind == Token::Kind::kName) {
      ++i_;
      auto l = std::make_unique<Literal>();
      if (t.text == "true" || t.text == "True") {
        l->v = Value::of(true);
        return l;
      }
      if (t.text == "false" || t.text == "False") {
        l->v = Value::of(false);
        return l;
      }
      if (t.text == "none" || t.text == "None") {
        l->v = Value::of(nullptr);
        return l;
      }
      auto n = std::make_unique<Name>();
      n->name = t.text;
      return n;
    }
    error("expected a value");
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int line_;
};

// ---- statements ------------------------------------------------------------------------------

struct Node {
  int line = 0;
  virtual ~Node() = default;
  virtual void render(Scope& s, std::string& out) const = 0;
};
using NodeP = std::unique_ptr<Node>;
using Body = std::vector<NodeP>;

void render_body(const Body& body, Scope& s, std::string& out) {
  for (const auto& n : body) {
    s.line = n->line;
    n->render(s, out);
  }
}

struct Text : Node {
  std::string text;
  void render(Scope&, std::string& out) const override { out += text; }
};
struct Output : Node {
  ExprP e;
  void render(Scope& s, std::string& out) const override { out += py_str(e->eval(s)); }
};
struct If : Node {
  std::vector<std::pair<ExprP, Body>> branches;  // a null condition: else
  void render(Scope& s, std::string& out) const override {
    for (const auto& [c, body] : branches) {
      if (!c || truthy(c->eval(s))) {
        render_body(body, s, out);
        return;
      }
    }
  }
};
struct For : Node {
  std::vector<std::string> targets;
  ExprP iterable, filter;
  Body body, otherwise;
  void render(Scope& s, std::string& out) const override {
    const Value it = iterable->eval(s);
    json items = json::array();
    const json& j = it.data();
    if (j.is_array())
      items = j;
    else if (j.is_object())
      for (auto x = j.begin(); x != j.end(); ++x) items.push_back(x.key());
    else if (j.is_string())
      for (char c : j.get_ref<const std::string&>()) items.push_back(std::string(1, c));
    else if (it.defined() && !j.is_null())
      fail(s, "cannot loop over " + type_name(it));
    auto bind = [&](const json& x) {
      if (targets.size() == 1) {
        s.set(targets[0], Value::of(x));
      } else {
        if (!x.is_array() || x.size() != targets.size()) fail(s, "cannot unpack a loop item");
        for (size_t k = 0; k < targets.size(); ++k) s.set(targets[k], Value::of(x[k]));
      }
    };
    if (filter) {  // {% for x in xs if cond %}: the loop sees the kept items only
      json kept = json::array();
      for (const auto& x : items) {
        s.push();
        bind(x);
        if (truthy(filter->eval(s))) kept.push_back(x);
        s.pop();
      }
      items = kept;
    }
    const int64_t n = static_cast<int64_t>(items.size());
    if (n == 0) {
      render_body(otherwise, s, out);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      s.push();
      bind(items[static_cast<size_t>(i)]);
      json loop = {{"index", i + 1},        {"index0", i}, {"first", i == 0},
                   {"last", i + 1 == n},    {"length", n}, {"revindex", n - i},
                   {"revindex0", n - i - 1}};
      if (i > 0) loop["previtem"] = items[static_cast<size_t>(i - 1)];
      if (i + 1 < n) loop["nextitem"] = items[static_cast<size_t>(i + 1)];
      s.set("loop", Value::of(loop));
      render_body(body, s, out);
      s.pop();
    }
  }
};
struct Set : Node {
  std::string name, attr;  // attr: `set ns.attr = ...`
  ExprP value;
  void render(Scope& s, std::string&) const override {
    Value v = value->eval(s);
    if (attr.empty()) {
      s.set(name, std::move(v));
      return;
    }
    Value target = s.get(name);
    if (target.kind != Value::Kind::kNamespace) fail(s, "'" + name + "' is not a namespace()");
    (*target.ns)[attr] = v.data();
  }
};

class Builder {
 public:
  explicit Builder(const std::vector<Piece>& pieces) : p_(pieces) {}
  Body parse_all() {
    Body b = body({});
    if (k_ < p_.size()) fail_at(p_[k_].line, "unexpected '" + first_word(p_[k_].text) + "'");
    return b;
  }

 private:
  static std::string first_word(const std::string& tag) {
    std::istringstream in(tag);
    std::string w;
    in >> w;
    return w;
  }
  [[noreturn]] static void fail_at(int line, const std::string& what) {
    throw Error(str_cat("chat template line ", line, ": ", what));
  }
  // Nodes until a tag whose first word is in `ends` (left for the caller) or the end.
  Body body(const std::vector<std::string>& ends) {
    Body out;
    while (k_ < p_.size()) {
      const Piece& p = p_[k_];
      if (p.kind == Piece::Kind::kText) {
        auto t = std::make_unique<Text>();
        t->text = p.text;
        t->line = p.line;
        out.push_back(std::move(t));
        ++k_;
        continue;
      }
      if (p.kind == Piece::Kind::kOutput) {
        Parser ps(tokenize(p.text, p.line), p.line);
        auto o = std::make_unique<Output>();
        o->e = ps.expression();
        if (!ps.at_end()) ps.error("unexpected text");
        o->line = p.line;
        out.push_back(std::move(o));
        ++k_;
        continue;
      }
      const std::string w = first_word(p.text);
      if (std::find(ends.begin(), ends.end(), w) != ends.end()) return out;
      ++k_;
      out.push_back(statement(w, p));
    }
    if (!ends.empty()) {
      fail_at(p_.empty() ? 1 : p_.back().line, "missing {% " + ends.back() + " %}");
    }
    return out;
  }
  NodeP statement(const std::string& w, const Piece& p) {
    Parser ps(tokenize(p.text, p.line), p.line);
    ps.name();  // the keyword
    if (w == "if") {
      auto n = std::make_unique<If>();
      n->line = p.line;
      ExprP c = ps.expression();
      for (;;) {
        Body b = body({"elif", "else", "endif"});
        n->branches.emplace_back(std::move(c), std::move(b));
        const Piece& end = p_.at(k_++);
        const std::string e = first_word(end.text);
        if (e == "endif") break;
        Parser pe(tokenize(end.text, end.line), end.line);
        pe.name();
        c = e == "elif" ? pe.expression() : nullptr;
        if (e == "else") {
          n->branches.emplace_back(nullptr, body({"endif"}));
          ++k_;
          break;
        }
      }
      return n;
    }
    if (w == "for") {
      auto n = std::make_unique<For>();
      n->line = p.line;
      n->targets.push_back(ps.name());
      while (ps.accept(",")) n->targets.push_back(ps.name());
      ps.expect("in");
      // The iterable stops before an inline `if` (a filter) or `recursive`.
      n->iterable = ps.primary_only();
      while (ps.accept("|")) {
        auto f = std::make_unique<Filter>();
        f->on = std::move(n->iterable);
        f->name = ps.name();
        n->iterable = std::move(f);
      }
      if (ps.accept("if")) n->filter = ps.expression();
      if (!ps.at_end()) ps.error("unexpected text in the for tag");
      n->body = body({"else", "endfor"});
      if (first_word(p_.at(k_).text) == "else") {
        ++k_;
        n->otherwise = body({"endfor"});
      }
      ++k_;
      return n;
    }
    if (w == "set") {
      auto n = std::make_unique<Set>();
      n->line = p.line;
      n->name = ps.name();
      if (ps.accept(".")) n->attr = ps.name();
      if (!ps.accept("=")) ps.error("{% set %} blocks are not supported; use {% set x = ... %}");
      n->value = ps.expression();
      if (!ps.at_end()) ps.error("unexpected text in the set tag");
      return n;
    }
    if (w == "generation") {  // transformers' assistant-mask marker: the body as it is
      auto n = std::make_unique<If>();
      n->line = p.line;
      auto yes = std::make_unique<Literal>();
      yes->v = Value::of(true);
      n->branches.emplace_back(std::move(yes), body({"endgeneration"}));
      ++k_;
      return n;
    }
    fail_at(p.line, "'{% " + w +
                        " %}' is not supported (xai renders the Jinja subset chat "
                        "templates use: for, if, set, generation)");
  }

  const std::vector<Piece>& p_;
  size_t k_ = 0;
};

}  // namespace

std::string python_json(const nlohmann::ordered_json& value, int indent) {
  std::string out;
  dump(out, value, indent, 0);
  return out;
}

std::string render(const std::string& source, const nlohmann::ordered_json& context) {
  const std::vector<Piece> pieces = cut(source);
  Builder b(pieces);
  const Body body = b.parse_all();
  Scope scope(context);
  Value raise;
  raise.kind = Value::Kind::kCallable;
  raise.call = [](Args& a, Kwargs&) -> Value {
    throw Error("chat template: " + (a.empty() ? std::string("raise_exception") : py_str(a[0])));
  };
  scope.set("raise_exception", raise);
  Value ns;
  ns.kind = Value::Kind::kCallable;
  ns.call = [](Args&, Kwargs& k) {
    Value v;
    v.kind = Value::Kind::kNamespace;
    v.ns = std::make_shared<json>(json::object());
    for (const auto& [name, x] : k) (*v.ns)[name] = x.data();
    return v;
  };
  scope.set("namespace", ns);
  Value range;
  range.kind = Value::Kind::kCallable;
  range.call = [](Args& a, Kwargs&) {
    int64_t start = 0, stop = 0, step = 1;
    if (a.size() == 1) stop = inum(a[0]);
    if (a.size() >= 2) {
      start = inum(a[0]);
      stop = inum(a[1]);
    }
    if (a.size() >= 3) step = inum(a[2]);
    json out = json::array();
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
    return Value::of(out);
  };
  scope.set("range", range);
  Value now;
  now.kind = Value::Kind::kCallable;
  now.call = [](Args& a, Kwargs&) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[256];
    const size_t n =
        std::strftime(buf, sizeof buf, a.empty() ? "%d %b %Y" : py_str(a[0]).c_str(), &tm);
    return Value::of(std::string(buf, n));
  };
  scope.set("strftime_now", now);
  std::string out;
  render_body(body, scope, out);
  return out;
}

}  // namespace xai::jinja
