// Builds the fuzzers' seed corpora from the committed fixtures at run time (nothing is copied into
// the repository): fuzz_seed_corpus REPO_ROOT OUT_DIR writes OUT_DIR/<target>/<seed>.
//
// Model checkpoints are up to a few MB, far above the 64 KiB a fuzzer mutates well, so each one is
// also rewritten with the same names, dtypes, ranks and metadata but tiny shapes: a valid file of a
// few KB whose header still looks like a real checkpoint's. Tokenizer seeds get a NUL and a text
// to encode appended (see fuzz_tokenizer.cpp), and the component fixtures are each plugged into a
// minimal tokenizer.json, so every normalizer, pre-tokenizer and decoder is reached from the start.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

constexpr size_t kMaxSeedBytes = 64 * 1024;  // larger fixtures are only used shrunk

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Corpus {
 public:
  Corpus(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  void add(const std::string& name, const std::string& bytes) {
    std::string file = name;
    std::replace(file.begin(), file.end(), '/', '_');
    std::ofstream(dir_ / file, std::ios::binary | std::ios::trunc) << bytes;
    ++count_;
  }
  size_t count() const { return count_; }

 private:
  fs::path dir_;
  size_t count_ = 0;
};

// Files under each of `roots` (relative to repo) whose name passes `keep`, in a stable order.
template <typename Keep>
std::vector<fs::path> find(const fs::path& repo, const std::vector<std::string>& roots, Keep keep) {
  std::vector<fs::path> out;
  for (const std::string& r : roots) {
    if (!fs::exists(repo / r)) continue;
    for (const auto& e : fs::recursive_directory_iterator(repo / r)) {
      if (e.is_regular_file() && keep(e.path())) out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string seed_name(const fs::path& repo, const fs::path& p) {
  return "fixture-" + fs::relative(p, repo).string();
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16") return 2;
  return 1;
}

// A safetensors file from a header object whose entries have dtype and shape: offsets assigned
// in order, the header padded with spaces to 8 bytes, zero data.
std::string write_safetensors(ordered_json header) {
  uint64_t offset = 0;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    uint64_t bytes = dtype_bytes(v["dtype"].get<std::string>());
    for (const auto& d : v["shape"]) bytes *= d.get<uint64_t>();
    v["data_offsets"] = {offset, offset + bytes};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  return u64_le(json.size()) + json + std::string(offset, '\0');
}

// The fixture's header with every dimension capped at 2, in the original data order.
bool shrink_safetensors(const std::string& file, std::string& out) {
  if (file.size() < 8) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  if (n > file.size() - 8) return false;
  ordered_json header = ordered_json::parse(file.substr(8, n), nullptr, false);
  if (!header.is_object()) return false;
  std::vector<std::pair<uint64_t, std::string>> order;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    order.emplace_back(v["data_offsets"][0].get<uint64_t>(), name);
    for (auto& d : v["shape"]) d = std::min<uint64_t>(d.get<uint64_t>(), 2);
    v.erase("data_offsets");
  }
  std::sort(order.begin(), order.end());
  ordered_json sorted = ordered_json::object();
  if (header.contains("__metadata__")) sorted["__metadata__"] = header["__metadata__"];
  for (const auto& [offset, name] : order) sorted[name] = header[name];
  out = write_safetensors(std::move(sorted));
  return true;
}

void safetensors_seeds(const fs::path& repo, Corpus& c) {
  const auto files = find(repo, {"tests/fixtures", "datasets/toy/models"},
                          [](const fs::path& p) { return p.extension() == ".safetensors"; });
  for (const fs::path& p : files) {
    const std::string bytes = read_file(p);
    if (bytes.size() <= kMaxSeedBytes) c.add(seed_name(repo, p), bytes);
    std::string small;
    if (shrink_safetensors(bytes, small)) c.add(seed_name(repo, p) + ".shrunk", small);
  }
  c.add("empty-header", write_safetensors(ordered_json::object()));
  ordered_json every_dtype = {{"__metadata__", {{"format", "pt"}}}};
  for (const char* d : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}) {
    every_dtype[std::string("t_") + d] = {{"dtype", d}, {"shape", {2, 1}}};
  }
  every_dtype["scalar"] = {{"dtype", "F32"}, {"shape", ordered_json::array()}};
  every_dtype["empty"] = {{"dtype", "F32"}, {"shape", {0, 3}}};
  c.add("every-dtype", write_safetensors(every_dtype));
}

void model_config_seeds(const fs::path& repo, Corpus& c) {
  const auto files = find(repo, {"tests/fixtures/models", "datasets/toy/models"},
                          [](const fs::path& p) { return p.filename() == "config.json"; });
  for (const fs::path& p : files) c.add(seed_name(repo, p), read_file(p));
  c.add("mistral-window", R"({"model_type": "mistral", "vocab_size": 32, "hidden_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 24, "sliding_window": 8, "eos_token_id": [2, 3], "pad_token_id": null,
    "rope_scaling": {"type": "linear", "factor": 2.0}})");
  c.add("qwen2-minimal", R"({"model_type": "qwen2", "vocab_size": 8, "hidden_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "head_dim": 4,
    "use_sliding_window": false, "rope_scaling": null, "tie_word_embeddings": true})");
  c.add("gpt2-minimal", R"({"model_type": "gpt2", "vocab_size": 5, "n_embd": 4, "n_layer": 1,
    "n_head": 2, "n_positions": 8, "n_inner": null, "activation_function": "gelu",
    "layer_norm_epsilon": 1e-05, "scale_attn_by_inverse_layer_idx": true})");
}

// A text for the tokenizer fixture at p: the first case of a golden.json beside it, else a mix.
std::string text_for(const fs::path& p) {
  const fs::path golden = p.parent_path() / "golden.json";
  if (fs::exists(golden)) {
    const ordered_json g = ordered_json::parse(read_file(golden), nullptr, false);
    if (g.is_object() && g.contains("cases") && g["cases"].is_array()) {
      for (const auto& k : g["cases"]) {
        if (k.contains("text") && k["text"].is_string() && k["text"].get<std::string>().size() > 8)
          return k["text"].get<std::string>();
      }
    }
  }
  return "Hello world, it's 2024!  caf\xc3\xa9 \xe2\x96\x81x";
}

void tokenizer_seeds(const fs::path& repo, Corpus& c) {
  const auto files =
      find(repo, {"tests/fixtures/tokenizers", "tests/fixtures/models", "datasets/toy/models"},
           [](const fs::path& p) {
             const std::string dir = p.parent_path().filename().string();
             return p.filename() == "tokenizer.json" || (dir == "bad" && p.extension() == ".json");
           });
  for (const fs::path& p : files) {
    const std::string json = read_file(p);
    c.add(seed_name(repo, p), json);
    c.add(seed_name(repo, p) + ".text", json + std::string(1, '\0') + text_for(p));
  }
  // Each component fixture in a minimal BPE tokenizer, with one of its own cases as the text.
  const fs::path base = repo / "tests/fixtures/tokenizers/bad/valid_minimal.json";
  const fs::path components = repo / "tests/fixtures/tokenizers/components";
  if (!fs::exists(base)) return;
  const ordered_json minimal = ordered_json::parse(read_file(base));
  for (const char* kind : {"normalizer", "pre_tokenizer", "decoder"}) {
    const fs::path list_path = components / (std::string(kind) + "s.json");
    if (!fs::exists(list_path)) continue;
    const ordered_json list = ordered_json::parse(read_file(list_path));
    for (size_t i = 0; i < list.size(); ++i) {
      ordered_json t = minimal;
      t[kind] = list[i][kind];
      std::string text = "ab a b";
      if (list[i].contains("cases")) {
        for (const auto& k : list[i]["cases"]) {
          if (k.contains("text") && k["text"].is_string()) text = k["text"].get<std::string>();
          if (text.size() > 8) break;
        }
      }
      c.add(std::string("component-") + kind + "-" + std::to_string(i),
            t.dump() + std::string(1, '\0') + text);
    }
  }
}

void config_seeds(const fs::path& repo, Corpus& c) {
  const auto files = find(repo, {"configs", "tests/fixtures/config", "tests/fixtures/experiments"},
                          [](const fs::path& p) { return p.extension() == ".yaml"; });
  for (const fs::path& p : files) c.add(seed_name(repo, p), read_file(p));
  // fuzz_config.cpp puts a base.yaml beside the input, which is itself fuzz.yaml.
  c.add("include-base", "include: base.yaml\nseed: 2\nexplainers: [ig]\n#set seed=3\n");
  c.add("include-self", "include: [fuzz.yaml]\n");
  c.add("anchors",
        "a: &a {x: 1, y: [1, 2]}\nb: *a\nc:\n  <<: *a\n  z: !!str 3\nd: &d [*a, *a]\n"
        "e: [*d, *d]\nf: ~\ng: .inf\nh: 0x1F\ni: \"quoted\"\nunread: 1\n");
  c.add("overrides",
        "explainers:\n  - {name: atman, factor: 0.1}\n#set explainers[0].factor=0.2\n"
        "#set dataset.limit=[1, 2]\n#set explainers[3].x=1\n");
}

void jsonl_seeds(const fs::path& repo, Corpus& c) {
  const auto files = find(repo, {"tests/fixtures", "datasets/toy/data"},
                          [](const fs::path& p) { return p.extension() == ".jsonl"; });
  for (const fs::path& p : files) c.add(seed_name(repo, p), read_file(p));
  c.add("edge-lines",
        "{\"prompt\": \"a b\", \"target\": \" c\"}\n"
        "\n  \t\r\n"
        "{\"id\": 7, \"prompt\": \"xyz\", \"target\": \"\", \"explain\": [[0, 1], [1, 3]],"
        " \"evidence\": null}\r\n"
        "{\"id\": \"\", \"prompt\": \"q\", \"target\": \"t\", \"evidence\": [[0, 2]]}\n"
        "{\"prompt\": 1}\n"
        "[1, 2]\n"
        "{not json\n"
        "{\"id\": \"dup\", \"prompt\": \"\xc3\xa9\", \"target\": \"x\", \"explain\": [[0, 2, 3]]}");
}

void image_seeds(const fs::path& repo, Corpus& c) {
  const auto files = find(repo, {"tests/fixtures/images"}, [](const fs::path& p) {
    return p.extension() == ".png" || p.extension() == ".jpg";
  });
  for (const fs::path& p : files) c.add(seed_name(repo, p), read_file(p));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seed_corpus REPO_ROOT OUT_DIR\n";
    return 2;
  }
  const fs::path repo = argv[1], out = argv[2];
  struct Target {
    const char* name;
    void (*fill)(const fs::path&, Corpus&);
  };
  const Target targets[] = {{"safetensors_header", safetensors_seeds},
                            {"model_config", model_config_seeds},
                            {"tokenizer", tokenizer_seeds},
                            {"config", config_seeds},
                            {"jsonl", jsonl_seeds},
                            {"image", image_seeds}};
  for (const Target& t : targets) {
    Corpus c(out / t.name);
    t.fill(repo, c);
    std::cout << "fuzz seeds: " << t.name << ": " << c.count() << " files\n";
  }
  return 0;
}
