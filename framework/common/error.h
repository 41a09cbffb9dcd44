// xai::Error: the one exception type thrown at boundaries, with a message a user can act on.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace xai {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A parameter out of range, thrown where the rule lives (an explainer's constructor, say); `key`
// names the parameter so a caller that read it from YAML can say where: file, line and path.
class OptionError : public Error {
 public:
  OptionError(std::string key, const std::string& message) : Error(message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// Throws xai::Error with the concatenated message when cond is false.
#define XAI_CHECK(cond, ...)                                      \
  do {                                                            \
    if (!(cond)) throw ::xai::Error(::xai::str_cat(__VA_ARGS__)); \
  } while (0)

// Throws xai::OptionError for parameter `key` when cond is false.
#define XAI_CHECK_OPTION(cond, key, ...)                                       \
  do {                                                                         \
    if (!(cond)) throw ::xai::OptionError((key), ::xai::str_cat(__VA_ARGS__)); \
  } while (0)

}  // namespace xai
