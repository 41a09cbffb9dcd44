// xai inspect-model DIR: what a checkpoint is and what it will cost to run.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/model/arch_registry.h"
#include "framework/model/family.h"
#include "framework/model/memory.h"
#include "framework/model/model_spec.h"
#include "framework/tensor_io/checkpoint.h"
#include "framework/text/tokenizer.h"

namespace xai::cli {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fK", n / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", n);
  }
  return buf;
}

int64_t dtype_bytes(const std::string& name) {
  if (name == "float32" || name == "f32") return 4;
  if (name == "bfloat16" || name == "bf16" || name == "float16" || name == "f16") return 2;
  throw Error("inspect-model: --dtype must be float32, bfloat16 or float16 (got '" + name + "')");
}

// What the tokenizer adds around every prompt (its post-processor's BOS, ...): found by encoding a
// probe text with and without special tokens. "adds <s> (id 1) at the start of every prompt; ...".
std::string added_special_tokens(const Tokenizer& t) {
  const Encoding e = t.encode("Hello world", /*add_special_tokens=*/true);
  std::string before, after;
  bool text_seen = false;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!e.special[i]) {
      text_seen = true;
      continue;
    }
    std::string& side = text_seen ? after : before;
    side += str_cat(side.empty() ? "" : " ", e.tokens[i], " (id ", e.ids[i], ")");
  }
  if (before.empty() && after.empty()) {
    return "none added to a prompt (every prompt token can be explained)";
  }
  std::string out = "adds ";
  if (!before.empty()) out += before + " at the start";
  if (!after.empty()) out += str_cat(before.empty() ? "" : " and ", after, " at the end");
  return out + " of every prompt; not explained unless dataset.explain_special_tokens: true " +
         "(explain: --explain-special-tokens)";
}

}  // namespace

int inspect_model(const std::vector<std::string>& argv) {
  Args args("inspect-model", argv, {"seq-len", "batch", "dtype"}, {});
  if (args.positional().size() != 1) throw Error("inspect-model: give exactly one checkpoint DIR");
  const std::string dir = args.positional()[0];
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw Error(dir + ": model folder does not exist");
  const ModelSpec spec = read_model_config((fs::path(dir) / "config.json").string());
  const Checkpoint ck = Checkpoint::open(dir);
  const CheckpointBinding binding = bind_checkpoint(ck, spec);
  const int64_t T = args.get_int("seq-len", std::min<int64_t>(512, spec.max_positions));
  const int64_t B = args.get_int("batch", 1);
  XAI_CHECK(T > 0 && B > 0, "inspect-model: --seq-len and --batch must be positive");

  std::map<std::string, int64_t> dtype_counts;
  for (const auto& [canonical, name] : binding.names) {
    dtype_counts[dtype_name(ck.info(name).dtype)] += ck.info(name).numel();
  }
  std::string stored;
  for (const auto& [d, n] : dtype_counts) stored += (stored.empty() ? "" : ", ") + d;
  const std::string compute = args.get_or("dtype", "float32");
  const MemoryEstimate mem = estimate_memory(spec, dtype_bytes(compute), B, T);

  std::cout << "model          " << dir << "\n"
            << "family         " << family_name(spec.family) << " (model_type " << spec.model_type
            << (spec.architecture.empty() ? "" : ", " + spec.architecture) << ")\n"
            << "parameters     " << human_count(static_cast<double>(spec.num_parameters())) << " ("
            << spec.num_parameters() << ")\n"
            << "layers         " << spec.num_layers << "\n"
            << "hidden         " << spec.hidden_size << ", intermediate " << spec.intermediate_size
            << ", activation " << spec.activation << "\n"
            << "heads          " << spec.num_heads << " query, " << spec.num_kv_heads
            << " key/value, head dim " << spec.head_dim << "\n"
            << (family_row(spec.family).images
                    ? str_cat("images         ", spec.image_size, " x ", spec.image_size, " x ",
                              spec.num_channels, " channels in ", spec.patch_size, " x ",
                              spec.patch_size, " patches: ", spec.num_patches(),
                              " tokens after [CLS]\n")
                    : str_cat("vocabulary     ", spec.vocab_size, "\n"))
            << "positions      " << spec.max_positions;
  if (!is_causal(spec)) std::cout << " (bidirectional attention)";
  if (!family_row(spec.family).learned_positions) {
    std::cout << " (rope theta " << spec.rope_theta;
    if (spec.rotary_dims > 0) {
      std::cout << " on " << spec.rotary_dims << " of " << spec.head_dim << " dims per head"
                << (spec.rotary_interleaved ? ", interleaved" : "");
    }
    std::cout << ", scaling " << spec.rope_scaling.type;
    if (spec.rope_scaling.type != "default") std::cout << " x" << spec.rope_scaling.factor;
    if (spec.parallel_residual) std::cout << ", parallel residual";
    std::cout << ")";
  }
  if (spec.sliding_window) std::cout << ", sliding window " << *spec.sliding_window;
  std::string head = spec.tie_word_embeddings ? "tied to the embeddings" : "separate";
  if (spec.lm_head_bias) head += ", with a bias";
  if (spec.classifier()) {
    head = str_cat("classifier at [CLS], ", spec.labels.size(), " classes:");
    for (size_t i = 0; i < spec.labels.size() && i < 8; ++i) head += " " + spec.labels[i];
    if (spec.labels.size() > 8) head += " ...";
  } else if (!is_causal(spec)) {
    head = "none (a bare encoder: hidden states only)";
  }
  std::cout << "\n"
            << "head           " << head << "\n"
            << "stored dtype   " << stored << " in " << ck.files().size() << " file(s), "
            << human_bytes(static_cast<double>(ck.total_file_bytes())) << "\n";
  const fs::path tok = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok)) {
    const Tokenizer t = Tokenizer::from_file(tok.string());
    std::cout << "tokenizer      tokenizer.json, " << t.vocab_size() << " tokens"
              << (t.vocab_size() > spec.vocab_size ? "  (WARNING: more than the model's vocabulary)"
                                                   : "")
              << "\n"
              << "special tokens " << added_special_tokens(t) << "\n";
  } else {
    std::cout << "tokenizer      none (no tokenizer.json)\n";
  }
  if (!binding.unknown.empty()) {
    std::cout << "unused tensors " << binding.unknown.size() << ", e.g. " << binding.unknown[0]
              << "\n";
  }
  std::cout << "\nmemory estimate at " << compute << ", batch " << B << ", " << T << " tokens:\n"
            << "  weights               " << human_bytes(static_cast<double>(mem.weights)) << "\n"
            << "  forward, beyond them  "
            << human_bytes(static_cast<double>(mem.forward_peak_extra())) << "  (attention scores "
            << human_bytes(static_cast<double>(mem.attention_scores)) << ", MLP "
            << human_bytes(static_cast<double>(mem.mlp)) << ", last-position logits "
            << human_bytes(static_cast<double>(mem.logits)) << ")\n"
            << "  K/V cache, if kept    " << human_bytes(static_cast<double>(mem.kv_cache)) << "\n";
  return 0;
}

}  // namespace xai::cli
