// Occlusion's YAML parameters (kept apart so the method links without the config code).
#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/occlusion.h"

namespace xai {

OcclusionOptions::OcclusionOptions() { common.target = TargetFunction::kLogProb; }

OcclusionOptions OcclusionOptions::from_config(const ConfigNode& node) {
  OcclusionOptions o;
  o.removal = read_removal(node, "removal", o.token);
  // window and batch_size are checked by Occlusion's constructor (the registry names the key).
  o.window = node.get_int("window", o.window);
  o.batch_size_given = node.has("batch_size");
  o.batch_size = node.get_int("batch_size", o.batch_size);
  o.common.read(node);
  node.finish();
  return o;
}

std::string OcclusionOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "occlusion";
  j["removal"] = removal_name(removal);
  j["token"] = removal == Removal::kReplace ? nlohmann::ordered_json(token)
                                            : nlohmann::ordered_json(nullptr);
  j["window"] = window;
  j["batch_size"] = batch_size;
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

}  // namespace xai
