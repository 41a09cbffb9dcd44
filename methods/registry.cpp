// The explainer registry: one row per method, explicit so no method is lost to static linking.
#include <algorithm>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/atman.h"
#include "methods/attattr.h"
#include "methods/attention.h"
#include "methods/attnlrp.h"
#include "methods/chefer.h"
#include "methods/chefer_lrp.h"
#include "methods/explainer.h"
#include "methods/input_x_gradient.h"
#include "methods/integrated_gradients.h"
#include "methods/occlusion.h"
#include "methods/random.h"
#include "methods/rollout.h"
#include "methods/saliency.h"

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
    {"attnlrp",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<AttnLrp>(AttnLrpOptions::from_config(n));
     }},
    {"chefer_lrp",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<CheferLrp>(CheferLrpOptions::from_config(n));
     }},
    {"attention",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<RawAttention>(AttentionOptions::from_config(n));
     }},
    {"rollout",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<Rollout>(RolloutOptions::from_config(n));
     }},
    {"chefer",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<Chefer>(CheferOptions::from_config(n));
     }},
    {"attattr",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<AttAttr>(AttAttrOptions::from_config(n));
     }},
    {"occlusion",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<Occlusion>(OcclusionOptions::from_config(n));
     }},
    {"saliency",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<Saliency>(SaliencyOptions::from_config(n));
     }},
    {"input_x_gradient",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<InputXGradient>(InputXGradientOptions::from_config(n));
     }},
    {"integrated_gradients",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<IntegratedGradients>(IntegratedGradientsOptions::from_config(n));
     }},
    {"random",
     [](const ConfigNode& n) -> std::unique_ptr<Explainer> {
       return std::make_unique<RandomBaseline>(RandomOptions::from_config(n));
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
    if (method != r.method) continue;
    // `granularity` is every method's key: read before the method's own (which finish() the node).
    Granularity granularity;
    try {
      granularity = parse_granularity(params.get_string("granularity", "token"));
    } catch (const Error& e) {
      throw Error(params.where("granularity") + e.what());
    }
    try {
      std::unique_ptr<Explainer> x = r.make(params);
      x->set_granularity(std::move(granularity));
      return x;
    } catch (const OptionError& e) {  // a parameter out of range: say where it was written
      throw Error(params.where(e.key()) + e.what());
    }
  }
  const auto known = explainer_methods();
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  const std::string near = cli::nearest(method, known);
  throw Error(
      str_cat(params.path().empty() ? std::string() : params.source() + ": " + params.path() + ": ",
              "unknown method '", method, "'",
              near.empty() ? "" : " (did you mean '" + near + "'?)", "; known: ", list));
}

}  // namespace xai
