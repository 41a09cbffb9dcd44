// The YAML form of a removal operator (kept apart so the methods link without the config code).
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/removal.h"

namespace xai {

Removal read_removal(const ConfigNode& node, const char* key, std::string& token) {
  const std::string name = node.get_choice(key, "drop", {"drop", "attention", "replace", "zero"});
  const Removal r = name == "drop"        ? Removal::kDrop
                    : name == "attention" ? Removal::kAttention
                    : name == "replace"   ? Removal::kReplace
                                          : Removal::kZero;
  XAI_CHECK(!node.has("token") || r == Removal::kReplace, node.where("token"), "only ", key,
            ": replace reads a token (", key, " is ", name, ")");
  if (r == Removal::kReplace) {
    token = node.get_string("token", token);
    bool ok = token == "unk" || token == "pad" || token == "mask";
    if (!ok) {
      ok = !token.empty() && token.size() < 18;
      for (char c : token) ok = ok && c >= '0' && c <= '9';
    }
    XAI_CHECK(ok, node.where("token"), "must be unk, pad, mask or a token id (got '", token, "')");
  }
  return r;
}

}  // namespace xai
