// See json_reader.h.
#include "framework/text/json_reader.h"

#include "framework/common/error.h"

namespace xai::text {

namespace {

const char* type_name(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer";
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

std::string shown_path(const std::string& path) { return path.empty() ? "(root)" : path; }

}  // namespace

std::string JsonNode::child_path(const char* key) const {
  return path_.empty() ? std::string(key) : str_cat(path_, ".", key);
}

bool JsonNode::has(const char* key) const {
  if (!j_->is_object()) return false;
  auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

JsonNode JsonNode::at(const char* key) const {
  expect_object();
  auto it = j_->find(key);
  if (it == j_->end()) {
    throw Error(str_cat(*source_, ": missing field '", child_path(key),
                        "'. HINT: compare the file with a tokenizer.json saved by the Hugging Face "
                        "tokenizers library"));
  }
  return JsonNode(*it, child_path(key), *source_);
}

JsonNode JsonNode::at(size_t index) const {
  expect_array();
  if (index >= j_->size()) fail(str_cat("index ", index, " is out of range"));
  return JsonNode((*j_)[index], str_cat(path_, "[", index, "]"), *source_);
}

size_t JsonNode::size() const {
  if (!j_->is_array() && !j_->is_object())
    fail(str_cat("expected an array or an object, got ", type_name(*j_)));
  return j_->size();
}

void JsonNode::fail(const std::string& what) const {
  throw Error(str_cat(*source_, ": ", shown_path(path_), ": ", what));
}

void JsonNode::unsupported(const std::string& kind, const std::string& type,
                           const std::string& supported) const {
  throw Error(str_cat(*source_, ": ", kind, " type '", type, "' is not supported (at ",
                      shown_path(path_), "; supported: ", supported, ")"));
}

std::string JsonNode::as_string() const {
  if (!j_->is_string()) fail(str_cat("expected a string, got ", type_name(*j_)));
  return j_->get<std::string>();
}

int64_t JsonNode::as_int() const {
  if (!j_->is_number_integer()) fail(str_cat("expected an integer, got ", type_name(*j_)));
  return j_->get<int64_t>();
}

double JsonNode::as_double() const {
  if (!j_->is_number()) fail(str_cat("expected a number, got ", type_name(*j_)));
  return j_->get<double>();
}

bool JsonNode::as_bool() const {
  if (!j_->is_boolean()) fail(str_cat("expected true or false, got ", type_name(*j_)));
  return j_->get<bool>();
}

void JsonNode::expect_object() const {
  if (!j_->is_object()) fail(str_cat("expected an object, got ", type_name(*j_)));
}

void JsonNode::expect_array() const {
  if (!j_->is_array()) fail(str_cat("expected an array, got ", type_name(*j_)));
}

std::string JsonNode::get_string_or(const char* key, const std::string& fallback) const {
  return has(key) ? at(key).as_string() : fallback;
}

bool JsonNode::get_bool_or(const char* key, bool fallback) const {
  return has(key) ? at(key).as_bool() : fallback;
}

int64_t JsonNode::get_int_or(const char* key, int64_t fallback) const {
  return has(key) ? at(key).as_int() : fallback;
}

std::string JsonNode::type() const { return get_string("type"); }

}  // namespace xai::text
