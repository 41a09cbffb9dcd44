// The explainer registry: one row per method, explicit so no method is lost to static linking.
#include <algorithm>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/atman.h"
#include "methods/explainer.h"

namespace xai {
namespace {

struct Row {
  const char* method;
  std::unique_ptr<Explainer> (*make)(const ConfigNode&);
};

const Row kMethods[] = {
    {"atman",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<AtMan>(AtManOptions::from_config(n));
     }},
};

}  // namespace

std::vector<std::string> explainer_methods() {
  std::vector<std::string> out;
  for (const auto& r : kMethods) out.push_back(r.method);
  return out;
}

std::unique_ptr<Explainer> make_explainer(const std::string& method, const ConfigNode& params) {
  for (const auto& r : kMethods) {
    if (method == r.method) return r.make(params);
  }
  const auto known = explainer_methods();
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  const std::string near = cli::nearest(method, known);
  throw Error(str_cat(params.source(), ": ", params.path(), ": unknown method '", method, "'",
                      near.empty() ? "" : " (did you mean '" + near + "'?)", "; known: ", list));
}

}  // namespace xai
