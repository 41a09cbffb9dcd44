#include "framework/common/args.h"

#include <algorithm>

#include "framework/common/error.h"

namespace xai::cli {

std::string nearest(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& k : known) {
    std::vector<size_t> prev(k.size() + 1), cur(k.size() + 1);
    for (size_t j = 0; j <= k.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= k.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] != k[j - 1])});
      }
      std::swap(prev, cur);
    }
    if (prev[k.size()] < best_d) {
      best_d = prev[k.size()];
      best = k;
    }
  }
  return best;
}

Args::Args(const std::string& command, const std::vector<std::string>& argv,
           const std::set<std::string>& value_options, const std::set<std::string>& flag_options)
    : command_(command) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (value_options.count(name)) {
      if (!has_value) {
        if (i + 1 >= argv.size()) throw Error(str_cat(command_, ": --", name, " needs a value"));
        value = argv[++i];
      }
      values_[name].push_back(value);
    } else if (flag_options.count(name) && !has_value) {
      flags_.insert(name);
    } else {
      std::vector<std::string> known(value_options.begin(), value_options.end());
      known.insert(known.end(), flag_options.begin(), flag_options.end());
      const std::string near = nearest(name, known);
      throw Error(str_cat(command_, ": unknown option --", name,
                          near.empty() ? std::string() : " (did you mean --" + near + "?)"));
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v) throw Error(str_cat(command_, ": --", name, " is required"));
  return *v;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    int64_t n = std::stoll(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return n;
  } catch (const std::exception&) {
    throw Error(str_cat(command_, ": --", name, " must be an integer (got '", *v, "')"));
  }
}

}  // namespace xai::cli
