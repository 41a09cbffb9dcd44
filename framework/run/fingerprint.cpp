#include "framework/run/fingerprint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "framework/common/error.h"

namespace xai {
namespace fs = std::filesystem;
namespace {

// FNV-1a, 64 bits: enough to tell an edited or different file from the one a run started with
// (this guards against mistakes, not adversaries).
class Hash {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ull;
    }
  }
  void add(const std::string& s) {
    const uint64_t n = s.size();
    add(&n, sizeof(n));
    add(s.data(), s.size());
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

std::string read_bytes(const std::string& path, uint64_t max_bytes = UINT64_MAX) {
  std::ifstream in(path, std::ios::binary);
  XAI_CHECK(in.good(), path, ": cannot read (", std::strerror(errno), ")");
  std::string out;
  char buf[1 << 16];
  while (out.size() < max_bytes && in.read(buf, sizeof(buf)).gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (out.size() > max_bytes) out.resize(max_bytes);
  return out;
}

// A safetensors file's name, size, header (the 8-byte length and the JSON) and its data: all of
// it up to 64 MiB, else 17 samples of 4 KiB spread evenly over it. A retrained checkpoint of the
// same architecture has the same header but not the same bytes anywhere, and 17 page reads cost
// nothing even at 30B.
void add_safetensors_file(Hash& h, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  XAI_CHECK(in.good(), file.string(), ": cannot read (", std::strerror(errno), ")");
  const uint64_t size = fs::file_size(file);
  h.add(file.filename().string());
  h.add(&size, sizeof(size));
  auto read_at = [&](uint64_t offset, uint64_t n) {
    std::string buf(static_cast<size_t>(std::min<uint64_t>(n, size - std::min(offset, size))),
                    '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    in.clear();
    return buf;
  };
  const std::string head = read_at(0, 8);
  uint64_t n = 0;
  for (int i = static_cast<int>(head.size()) - 1; i >= 0; --i) {
    n = (n << 8) | static_cast<unsigned char>(head[static_cast<size_t>(i)]);
  }
  const uint64_t data_start = std::min<uint64_t>(size, 8 + std::min<uint64_t>(n, 100ull << 20));
  h.add(read_at(0, data_start));
  constexpr uint64_t kSample = 4096, kSamples = 16, kWhole = 64ull << 20;
  const uint64_t data = size - data_start;
  if (data <= kWhole) {  // small checkpoints (and every test fixture): all of it
    h.add(read_at(data_start, data));
    return;
  }
  for (uint64_t k = 0; k <= kSamples; ++k) {
    const uint64_t at = data <= kSample ? 0 : (data - kSample) / kSamples * k;
    h.add(read_at(data_start + at, kSample));
    if (data <= kSample) break;
  }
}

}  // namespace

std::string RunFingerprint::to_json() const {
  nlohmann::ordered_json j;
  j["models"] = nlohmann::ordered_json::object();
  for (const auto& [name, m] : models) {
    j["models"][name] = {{"path", m.path},
                         {"config", m.config},
                         {"tokenizer", m.tokenizer},
                         {"weights", m.weights},
                         {"dtype", m.dtype}};
  }
  j["explainers"] = nlohmann::ordered_json::object();
  for (const auto& [name, params] : explainers) j["explainers"][name] = params;
  j["samples"] = samples;
  return j.dump();
}

RunFingerprint RunFingerprint::from_json(const std::string& text) {
  RunFingerprint f;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    for (const auto& [name, m] : j.at("models").items()) {
      f.models[name] = {m.at("path").get<std::string>(), m.at("config").get<std::string>(),
                        m.at("tokenizer").get<std::string>(), m.at("weights").get<std::string>(),
                        m.value("dtype", std::string("auto"))};
    }
    for (const auto& [name, p] : j.at("explainers").items()) {
      f.explainers[name] = p.get<std::string>();
    }
    if (j.contains("samples")) f.samples = j["samples"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("not a run fingerprint: ", e.what()));
  }
  return f;
}

ModelFingerprint fingerprint_synthetic(const std::string& config_json,
                                       const std::string& tokenizer_json, uint64_t seed,
                                       const std::string& dtype) {
  ModelFingerprint f;
  f.path = "synthetic";
  Hash c, t, w;
  c.add(config_json);
  t.add(tokenizer_json);
  w.add(str_cat("synthetic seed ", seed, " dtype ", dtype));
  f.config = c.hex();
  f.tokenizer = t.hex();
  f.weights = w.hex();
  return f;
}

ModelFingerprint fingerprint_model(const std::string& folder) {
  ModelFingerprint f;
  f.path = folder;
  const fs::path dir(folder);
  {
    Hash h;
    h.add(read_bytes((dir / "config.json").string()));
    f.config = h.hex();
  }
  {
    Hash h;
    // An image model has no tokenizer: its preprocessor_config.json says how it reads inputs.
    if (fs::exists(dir / "tokenizer.json") || !fs::exists(dir / "preprocessor_config.json")) {
      h.add(read_bytes((dir / "tokenizer.json").string()));
    }
    for (const char* extra : {"tokenizer_config.json", "preprocessor_config.json"}) {
      if (fs::exists(dir / extra)) h.add(read_bytes((dir / extra).string()));
    }
    f.tokenizer = h.hex();
  }
  {
    Hash h;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.size() > 12 &&
          name.compare(name.size() - 12, 12, ".safetensors") == 0) {
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) add_safetensors_file(h, file);
    if (fs::exists(dir / "model.safetensors.index.json")) {
      h.add(read_bytes((dir / "model.safetensors.index.json").string()));
    }
    f.weights = h.hex();
  }
  return f;
}

std::vector<std::string> fingerprint_changes(const RunFingerprint& before,
                                             const RunFingerprint& now) {
  std::vector<std::string> out;
  for (const auto& [name, m] : now.models) {
    auto it = before.models.find(name);
    if (it == before.models.end()) continue;
    const ModelFingerprint& b = it->second;
    std::vector<std::string> what;
    if (b.weights != m.weights) what.push_back("its weights differ");
    if (b.config != m.config) what.push_back("its config.json differs");
    if (b.tokenizer != m.tokenizer) what.push_back("its tokenizer differs");
    if (b.dtype != m.dtype) what.push_back(str_cat("its dtype was ", b.dtype, ", now ", m.dtype));
    if (what.empty()) continue;
    std::string line = str_cat("model '", name, "': ");
    for (size_t i = 0; i < what.size(); ++i) line += (i ? ", " : "") + what[i];
    if (b.path != m.path) line += str_cat(" (the shards used ", b.path, ", this run ", m.path, ")");
    out.push_back(line);
  }
  for (const auto& [name, params] : now.explainers) {
    auto it = before.explainers.find(name);
    if (it == before.explainers.end() || it->second == params) continue;
    out.push_back(
        str_cat("explainer '", name, "': its parameters were ", it->second, ", now ", params));
  }
  if (!before.samples.empty() && !now.samples.empty() && before.samples != now.samples) {
    out.push_back(
        str_cat("the dataset's sample settings were ", before.samples, ", now ", now.samples));
  }
  return out;
}

}  // namespace xai
