// libFuzzer target: xai::parse_model_config on config.json text. A bug: a crash or sanitizer
// report (signed overflow included), an exception other than xai::Error, an accepted spec that
// breaks the checks parse_model_config promises (positive sizes, heads a multiple of key/value
// heads, even head_dim for RoPE), or model_config_json(spec) not reading back to the same spec.
#include <cstddef>
#include <cstdint>
#include <string>

#include "framework/model/model_spec.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void check_spec(const xai::ModelSpec& s) {
  // An image family has no vocabulary: its tokens are [CLS] and the patches.
  const bool images = s.family == xai::Family::kVit;
  XAI_FUZZ_CHECK((images ? s.vocab_size == 0 : s.vocab_size > 0) && s.hidden_size > 0 &&
                     s.num_layers > 0 && s.num_heads > 0 && s.num_kv_heads > 0 &&
                     s.intermediate_size > 0 && s.max_positions > 0 && s.head_dim > 0,
                 "a size is not positive");
  if (images) {
    XAI_FUZZ_CHECK(s.image_size > 0 && s.patch_size > 0 && s.image_size % s.patch_size == 0 &&
                       s.num_channels > 0 && s.max_positions == s.num_patches() + 1,
                   "image geometry");
  }
  XAI_FUZZ_CHECK(s.num_heads % s.num_kv_heads == 0, "heads ", s.num_heads, " kv ", s.num_kv_heads);
  if (s.family == xai::Family::kLlama) XAI_FUZZ_CHECK(s.head_dim % 2 == 0, "odd head_dim");
  if (s.sliding_window) XAI_FUZZ_CHECK(*s.sliding_window > 0, "sliding_window");
  XAI_FUZZ_CHECK(s.rope_scaling.factor > 0, "rope factor");
}

// The fields model_config_json writes (architecture and torch_dtype are informational and
// rewritten; source is the name given).
void check_same(const xai::ModelSpec& a, const xai::ModelSpec& b) {
  auto same_double = [](double x, double y) { return x == y || (x != x && y != y); };
  XAI_FUZZ_CHECK(a.family == b.family && a.model_type == b.model_type, "family/model_type");
  XAI_FUZZ_CHECK(a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size &&
                     a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
                     a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
                     a.intermediate_size == b.intermediate_size &&
                     a.max_positions == b.max_positions,
                 "sizes differ after model_config_json");
  XAI_FUZZ_CHECK(same_double(a.norm_eps, b.norm_eps) && a.activation == b.activation,
                 "norm_eps/activation");
  XAI_FUZZ_CHECK(a.labels == b.labels && a.type_vocab_size == b.type_vocab_size &&
                     a.position_offset == b.position_offset && a.image_size == b.image_size &&
                     a.patch_size == b.patch_size && a.num_channels == b.num_channels,
                 "classifier, token types or image geometry differ after model_config_json");
  XAI_FUZZ_CHECK(
      same_double(a.rope_theta, b.rope_theta) && a.rope_scaling.type == b.rope_scaling.type &&
          same_double(a.rope_scaling.factor, b.rope_scaling.factor) &&
          same_double(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor) &&
          same_double(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor) &&
          a.rope_scaling.original_max_position_embeddings ==
              b.rope_scaling.original_max_position_embeddings,
      "rope settings differ after model_config_json");
  XAI_FUZZ_CHECK(a.qkv_bias == b.qkv_bias && a.o_bias == b.o_bias && a.mlp_bias == b.mlp_bias &&
                     a.sliding_window == b.sliding_window &&
                     a.scale_attn_weights == b.scale_attn_weights &&
                     a.scale_attn_by_inverse_layer_idx == b.scale_attn_by_inverse_layer_idx &&
                     a.tie_word_embeddings == b.tie_word_embeddings,
                 "flags differ after model_config_json");
  XAI_FUZZ_CHECK(a.bos_token_id == b.bos_token_id && a.eos_token_id == b.eos_token_id &&
                     a.pad_token_id == b.pad_token_id,
                 "special token ids differ after model_config_json");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  xai::fuzz::expect_only_xai_errors("parse_model_config", [&] {
    const xai::ModelSpec spec = xai::parse_model_config(text, "fuzz/config.json");
    check_spec(spec);
    std::string written;
    xai::fuzz::expect_only_xai_errors("model_config_json",
                                      [&] { written = xai::model_config_json(spec); });
    XAI_FUZZ_CHECK(!written.empty(), "model_config_json failed on an accepted spec");
    try {
      check_same(spec, xai::parse_model_config(written, "fuzz/written.json"));
    } catch (const xai::Error& e) {
      xai::fuzz::fail(
          xai::str_cat("model_config_json wrote a config.json that does not read back: ", e.what(),
                       "\n", written));
    }
  });
  return 0;
}
