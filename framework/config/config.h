// Experiment configuration: YAML read strictly. Each component reads its own mapping through a
// ConfigNode; every key read is recorded with the value used (defaults included), so the resolved
// configuration can be written next to the results, and keys nobody read are errors that name
// their path and the nearest valid key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xai {

namespace config_detail {
struct State;  // the YAML tree, the resolved tree and the source file, shared by all nodes
}

class ConfigNode {
 public:
  // Where this node is, for messages: "explainers[0]" or "" for the root.
  const std::string& path() const { return path_; }
  // The file the node came from (after includes: the file that set it).
  std::string source() const;

  bool has(const std::string& key) const;  // present and not null
  // "exp.yaml:12: explainers[0].factor: " for a message about `key`: the line of its value, or of
  // this mapping when the key is absent.
  std::string where(const std::string& key) const;

  // Typed reads. A missing or null key gives the fallback; a present key of the wrong type is an
  // xai::Error like "exp.yaml:12: explainers[0].factor: expected a number, got 'abc'".
  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::vector<std::string> get_string_list(const std::string& key,
                                           const std::vector<std::string>& fallback) const;
  std::vector<int64_t> get_int_list(const std::string& key,
                                    const std::vector<int64_t>& fallback) const;
  std::vector<double> get_double_list(const std::string& key,
                                      const std::vector<double>& fallback) const;
  // A present-but-null value ("kappa: null" or "kappa: off") is nullopt; a missing key gives the
  // fallback.
  std::optional<double> get_optional_double(const std::string& key,
                                            std::optional<double> fallback) const;
  // One of `choices`; anything else is an error listing them (and suggesting the nearest).
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& choices) const;
  // Required keys: missing is an error naming the key and path.
  std::string require_string(const std::string& key) const;

  // A nested mapping (a missing key gives an empty mapping at that path).
  ConfigNode child(const std::string& key) const;
  // A list of mappings ("explainers: [{name: atman}, ...]"); a missing key gives an empty list.
  std::vector<ConfigNode> children(const std::string& key) const;
  // A key whose value may be a scalar string or a mapping (e.g. "- atman" or "- {name: atman}"):
  // true when it is a mapping.
  bool is_mapping(const std::string& key) const;
  // The keys present in this mapping, in file order.
  std::vector<std::string> keys() const;

  // Throws for the first key in this mapping (not in children) that no get/child call read:
  // "exp.yaml:7: explainers[0].kapa: unknown key (did you mean 'kappa'?)". Call it after reading.
  void finish() const;

 private:
  friend class Config;
  ConfigNode(std::shared_ptr<config_detail::State> state, std::string path)
      : state_(std::move(state)), path_(std::move(path)) {}
  std::shared_ptr<config_detail::State> state_;
  std::string path_;
};

class Config {
 public:
  // Reads a YAML file. `include: other.yaml` (or a list) at the top of any file merges the named
  // files first (paths relative to the including file; the including file wins on conflicts,
  // mappings merge key by key, lists are replaced). Then each override "a.b=value" or
  // "explainers[1].factor=0.2" is applied; the value is parsed as YAML ("0.2", "[1, 2]",
  // "null"), and a path that does not exist is created for mappings but is an error for a list
  // index out of range. Errors name the file and line.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Config parse(const std::string& yaml_text, const std::string& source_name,
                      const std::vector<std::string>& overrides = {});

  ConfigNode root() const;
  // Like ConfigNode::finish for the whole tree: throws for the first key anywhere (in file
  // order) that no component read, so a misspelt key can never be silently ignored.
  void finish_all() const;
  // The configuration as read: every key a component read, with the value it used (defaults
  // filled in), in YAML. Keys not read are absent (finish() makes them errors anyway).
  std::string resolved_yaml() const;
  // The same as JSON text, for results.json.
  std::string resolved_json() const;

 private:
  std::shared_ptr<config_detail::State> state_;
};

}  // namespace xai
