// libFuzzer target: an experiment YAML through xai::Config::parse, every kind of read on every
// key (nested mappings and lists of mappings too), finish_all(), resolved_yaml() and
// resolved_json(). Comment lines "#set a.b=value" in the input also become --set overrides. The
// file is named fuzz.yaml in a scratch folder that also holds the input itself and a base.yaml,
// so `include:` of either (a cycle, or a real merge) is reachable. A bug: a crash, hang, runaway
// memory (alias bombs) or sanitizer report, an exception other than xai::Error (yaml-cpp's
// YAML::Exception included), or a resolved_yaml() that Config::parse does not read back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "framework/config/config.h"
#include "tests/fuzz/fuzz_tmp.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr int kMaxDepth = 6;
constexpr size_t kMaxOverrides = 4;
constexpr size_t kMaxKeyRead = 100;  // bytes; even escaped as \xNN it stays under 1024

const std::string& yaml_path() {
  static const std::string path = [] {
    const std::string dir = xai::fuzz::scratch_dir();
    const std::string base =
        "dataset: {type: jsonl, path: samples.jsonl}\n"
        "models:\n  - {name: m, path: models/m}\n"
        "explainers: [atman, {name: ig, steps: 4}]\n"
        "seed: 1\n";
    xai::fuzz::write_file(dir + "/base.yaml", base.data(), base.size());
    return dir + "/fuzz.yaml";
  }();
  return path;
}

// Each read is tried on its own: a type mismatch is an xai::Error, and the next read of the same
// key must still work.
template <typename Fn>
void try_read(Fn&& fn) {
  try {
    fn();
  } catch (const xai::Error&) {
  }
}

void walk(const xai::ConfigNode& node, int depth) {
  for (const std::string& key : node.keys()) {
    // Keys starting with 'u' stay unread, so finish() and finish_all() have something to find.
    // So do long keys: no component reads one, and yaml-cpp would write a key over 1024
    // characters into resolved_yaml() as an implicit key, which YAML (and yaml-cpp) reject.
    if ((!key.empty() && key[0] == 'u') || key.size() > kMaxKeyRead) continue;
    try_read([&] { (void)node.has(key); });
    try_read([&] {
      if (node.is_mapping(key) && depth < kMaxDepth) walk(node.child(key), depth + 1);
    });
    try_read([&] {
      for (const xai::ConfigNode& c : node.children(key))
        if (depth < kMaxDepth) walk(c, depth + 1);
    });
    try_read([&] { (void)node.get_string(key, "x"); });
    try_read([&] { (void)node.get_int(key, 1); });
    try_read([&] { (void)node.get_double(key, 0.5); });
    try_read([&] { (void)node.get_bool(key, false); });
    try_read([&] { (void)node.get_optional_double(key, 0.25); });
    try_read([&] { (void)node.get_string_list(key, {"a"}); });
    try_read([&] { (void)node.get_int_list(key, {1}); });
    try_read([&] { (void)node.get_double_list(key, {0.5}); });
    try_read([&] { (void)node.get_choice(key, "atman", {"atman", "ig", "context", "prompt"}); });
    try_read([&] { (void)node.require_string(key); });
  }
  // Keys that are absent: defaults are recorded in the resolved output.
  try_read([&] { (void)node.get_int("absent_int", 7); });
  try_read([&] { (void)node.child("absent_child").get_string("name", "n"); });
  try_read([&] { (void)node.require_string("absent_required"); });
  try_read([&] { node.finish(); });
}

std::vector<std::string> overrides_in(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && out.size() < kMaxOverrides) {
    if (line.rfind("#set ", 0) == 0) out.push_back(line.substr(5));
  }
  return out;
}

// Is s UTF-8 text: well-formed (no overlong forms, surrogates or code points past U+10FFFF) and
// without NUL, whose patterns make yaml-cpp read the text as UTF-16 or UTF-32?
bool utf8_text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80             ? 1
                       : (c & 0xE0) == 0xC0 ? 2
                       : (c & 0xF0) == 0xE0 ? 3
                       : (c & 0xF8) == 0xF0 ? 4
                                            : 0;
    if (len == 0 || c == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // XAI_FUZZ_CONFIG_UTF8_ONLY=1 skips inputs that are not UTF-8 text, to fuzz past the known
  // finding that invalid UTF-8 in a YAML string (written so, or made by yaml-cpp reading text
  // with NULs as UTF-32) escapes resolved_json() as nlohmann's type_error 316.
  static const bool utf8_only = std::getenv("XAI_FUZZ_CONFIG_UTF8_ONLY") != nullptr;
  if (utf8_only && !utf8_text(text)) return 0;
  const std::string& path = yaml_path();
  xai::fuzz::write_file(path, text.data(), text.size());
  xai::fuzz::expect_only_xai_errors("Config", [&] {
    const xai::Config config = xai::Config::parse(text, path, overrides_in(text));
    walk(config.root(), 0);
    try_read([&] { config.finish_all(); });
    std::string resolved;
    try_read([&] { (void)config.resolved_json(); });
    try_read([&] { resolved = config.resolved_yaml(); });
    if (!resolved.empty()) {
      try {
        (void)xai::Config::parse(resolved, path + ".resolved");
      } catch (const xai::Error& e) {
        xai::fuzz::fail(
            xai::str_cat("resolved_yaml() does not read back: ", e.what(), "\n", resolved));
      }
    }
  });
  return 0;
}
