// Minimal command-line parsing for the xai subcommands: --key value, --flag, positionals.
// Unknown options are an error that suggests the nearest known one.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace xai::cli {

class Args {
 public:
  // value_options take a value; flag_options do not. Throws xai::Error on an unknown option.
  Args(const std::string& command, const std::vector<std::string>& argv,
       const std::set<std::string>& value_options, const std::set<std::string>& flag_options);

  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;    // the last one given
  std::vector<std::string> get_all(const std::string& name) const;  // every one, in order
  std::string require(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

// The known word nearest to `word` by edit distance, or "" when none is close.
std::string nearest(const std::string& word, const std::vector<std::string>& known);

}  // namespace xai::cli
