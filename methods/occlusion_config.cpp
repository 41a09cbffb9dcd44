// Occlusion's YAML parameters (kept apart so the method links without the config code).
#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/occlusion.h"

namespace xai {

OcclusionOptions::OcclusionOptions() { common.target = TargetFunction::kLogProb; }

OcclusionOptions OcclusionOptions::from_config(const ConfigNode& node) {
  OcclusionOptions o;
  const std::string removal =
      node.get_choice("removal", "drop", {"drop", "attention", "replace", "zero"});
  o.removal = removal == "drop"        ? Removal::kDrop
              : removal == "attention" ? Removal::kAttention
              : removal == "replace"   ? Removal::kReplace
                                       : Removal::kZero;
  o.token = node.get_string("token", o.token);
  if (o.token != "unk" && o.token != "pad") {
    bool id = !o.token.empty();
    for (char c : o.token) id = id && c >= '0' && c <= '9';
    XAI_CHECK(id, node.where("token"), "must be unk, pad or a token id (got '", o.token, "')");
  }
  XAI_CHECK(!node.has("token") || o.removal == Removal::kReplace, node.where("token"),
            "only removal: replace reads a token (removal is ", removal, ")");
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
  j["removal"] = occlusion_removal_name(removal);
  j["token"] = removal == Removal::kReplace ? nlohmann::ordered_json(token)
                                            : nlohmann::ordered_json(nullptr);
  j["window"] = window;
  j["batch_size"] = batch_size;
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

}  // namespace xai
