// Reading tokenizer.json with errors that name the file and the field path ("model.merges[12]").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace xai::text {

class JsonNode {
 public:
  JsonNode(const nlohmann::json& j, std::string path, const std::string& source)
      : j_(&j), path_(std::move(path)), source_(&source) {}

  const nlohmann::json& json() const { return *j_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return *source_; }

  bool is_null() const { return j_->is_null(); }
  bool is_string() const { return j_->is_string(); }
  bool is_array() const { return j_->is_array(); }
  bool is_object() const { return j_->is_object(); }
  // True when the object has the key with a non-null value.
  bool has(const char* key) const;

  JsonNode at(const char* key) const;  // required member (throws "missing field")
  JsonNode at(size_t index) const;     // array element
  size_t size() const;                 // array or object size; throws unless one of them

  std::string as_string() const;
  int64_t as_int() const;
  double as_double() const;
  bool as_bool() const;
  void expect_object() const;
  void expect_array() const;

  std::string get_string(const char* key) const { return at(key).as_string(); }
  std::string get_string_or(const char* key, const std::string& fallback) const;
  bool get_bool_or(const char* key, bool fallback) const;
  int64_t get_int_or(const char* key, int64_t fallback) const;

  // "<source>: <path>: <what>" as an xai::Error.
  [[noreturn]] void fail(const std::string& what) const;
  // "<source>: <kind> type '<type>' is not supported (at <path>; supported: <supported>)".
  [[noreturn]] void unsupported(const std::string& kind, const std::string& type,
                                const std::string& supported) const;
  // The "type" member of a component, with a clear error when it is missing.
  std::string type() const;

  std::string child_path(const char* key) const;

 private:
  const nlohmann::json* j_;
  std::string path_;
  const std::string* source_;
};

}  // namespace xai::text
