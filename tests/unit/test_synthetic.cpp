// Synthetic models: any shape from a seed, the same in memory as written out by `xai make-model`
// and read back by the checkpoint loader (sharded or not, float32 or bfloat16), and runnable from
// an experiment's models[].synthetic.
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "framework/model/arch_registry.h"
#include "framework/model/model.h"
#include "framework/model/synthetic.h"
#include "framework/run/fingerprint.h"
#include "framework/text/tokenizer.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

ModelShape small(const std::string& family) {
  ModelShape s;
  s.family = family;
  s.layers = 2;
  s.hidden = 32;
  s.heads = 4;
  s.vocab = 300;
  s.max_positions = 64;
  if (family == "llama") s.kv_heads = 2;
  return s;
}

at::Tensor logits_of(Model& m, const at::Tensor& ids) {
  at::NoGradGuard ng;
  ForwardRequest req;
  req.input_ids = ids;
  return m.forward(req).logits.to(at::kFloat);
}

TEST(Synthetic, WrittenFolderLoadsToTheSameModelForEveryFamilySplitOrNot) {
  const at::Tensor ids = at::tensor({0, 5, 17, 250, 3, 99, 42}, at::kLong).unsqueeze(0);
  for (const char* family : {"gpt2", "llama", "gpt_neox", "gptj"}) {
    const ModelSpec spec = shape_spec(small(family), "test: ");
    EXPECT_EQ(spec.model_type, family);
    auto mem = make_synthetic_model(spec, 7, {}, at::kFloat);
    const at::Tensor want = logits_of(*mem, ids);
    ASSERT_EQ(want.size(-1), 300);
    // A seed is a model: the same seed, the same logits; another seed, others.
    EXPECT_TRUE(at::equal(logits_of(*make_synthetic_model(spec, 7, {}, at::kFloat), ids), want));
    EXPECT_FALSE(at::allclose(logits_of(*make_synthetic_model(spec, 8, {}, at::kFloat), ids),
                              want, 1e-3, 1e-3))
        << family;
    for (int64_t shard : {int64_t{0}, int64_t{20000}}) {
      TempDir dir;
      const auto files = write_synthetic_model(dir.path(), spec, 7, at::kFloat, shard);
      EXPECT_EQ(fs::exists(dir.file("model.safetensors.index.json")), shard > 0) << family;
      if (shard > 0) {
        EXPECT_GT(files.size(), 4u) << family;  // several shards, index, config, tokenizer
        // A shard holds at most shard bytes of tensors, or one tensor larger than that.
        std::ifstream in(dir.file("model.safetensors.index.json"));
        std::map<std::string, int> per_file;
        const nlohmann::json index = nlohmann::json::parse(in);
        for (const auto& entry : index["weight_map"]) ++per_file[entry.get<std::string>()];
        EXPECT_EQ(per_file.size() + 3, files.size());
        for (const auto& [file, n] : per_file) {
          if (n > 1) {
            EXPECT_LE(fs::file_size(dir.file(file)), 20000u + 4096u) << file;
          }
        }
      }
      auto loaded = load_model(dir.path());
      EXPECT_EQ(loaded->spec().num_parameters(), spec.num_parameters());
      EXPECT_TRUE(at::equal(logits_of(*loaded, ids), want)) << family << " shard " << shard;
    }
  }
}

TEST(Synthetic, Bfloat16WeightsAreTheFloat32OnesRoundedAndStayBfloat16) {
  const ModelSpec spec = shape_spec(small("llama"), "test: ");
  TempDir dir;
  write_synthetic_model(dir.path(), spec, 3, at::kBFloat16, 0);
  std::ifstream in(dir.file("config.json"));
  EXPECT_EQ(nlohmann::json::parse(in)["torch_dtype"], "bfloat16");
  LoadOptions o;
  o.dtype = at::kBFloat16;
  auto loaded = load_model(dir.path(), o);
  auto mem = make_synthetic_model(spec, 3, {}, at::kBFloat16);
  EXPECT_EQ(mem->dtype(), at::kBFloat16);
  const at::Tensor ids = at::arange(1, 20, at::kLong).unsqueeze(0);
  EXPECT_TRUE(at::equal(logits_of(*loaded, ids), logits_of(*mem, ids)));
  // Against the float32 model: bf16 rounding only (8 bits of mantissa).
  const at::Tensor f32 = logits_of(*make_synthetic_model(spec, 3, {}, at::kFloat), ids);
  const at::Tensor bf = logits_of(*mem, ids);
  EXPECT_LT((bf - f32).abs().max().item<double>(), 0.05 * f32.abs().max().item<double>() + 0.02);
}

TEST(Synthetic, ShapesFollowTheFamilyAndBadSizesAreNamed) {
  ModelShape s = small("llama");
  s.hidden = 4096;
  s.heads = 32;
  s.kv_heads = 0;
  EXPECT_EQ(shape_spec(s, "x: ").intermediate_size, 11008);  // Llama-7B's MLP width
  ModelShape j = small("gptj");
  j.hidden = 4096;
  j.heads = 16;
  const ModelSpec gptj = shape_spec(j, "x: ");
  EXPECT_EQ(gptj.rotary_dims, 64);  // GPT-J-6B: 64 of 256
  EXPECT_TRUE(gptj.rotary_interleaved);
  EXPECT_TRUE(gptj.lm_head_bias);
  EXPECT_EQ(shape_spec(small("gpt_neox"), "x: ").rotary_dims, 2);  // rotary_pct 0.25 of 8
  EXPECT_TRUE(shape_spec(small("gpt2"), "x: ").tie_word_embeddings);

  ModelShape bad = small("gpt2");
  bad.kv_heads = 2;
  expect_error([&] { shape_spec(bad, "exp.yaml:3: models[0].synthetic: "); },
               {"exp.yaml:3: models[0].synthetic: kv_heads", "gpt2"});
  bad = small("llama");
  bad.hidden = 30;
  expect_error([&] { shape_spec(bad, "w: "); }, {"w: hidden 30 is not a multiple of heads 4"});
  bad = small("t5");
  expect_error([&] { shape_spec(bad, "w: "); }, {"w: family must be"});
  bad = small("gpt2");
  bad.vocab = 100;
  expect_error([&] { shape_spec(bad, "w: "); }, {"w: vocab must be at least 257"});
  bad = small("gpt2");
  bad.layers = 0;
  expect_error([&] { shape_spec(bad, "w: "); }, {"w: layers must be positive"});
}

TEST(Synthetic, TheByteTokenizerGivesOneTokenPerByteAfterTheBos) {
  const Tokenizer t = Tokenizer::from_json_text(synthetic_tokenizer_json(), "synthetic");
  EXPECT_EQ(t.vocab_size(), 257);
  const Encoding e = t.encode("héllo, world", true);
  ASSERT_EQ(e.ids.size(), 1 + std::string("héllo, world").size());
  EXPECT_EQ(e.ids[0], 0);
  EXPECT_EQ(t.decode(std::vector<int64_t>(e.ids.begin() + 1, e.ids.end())), "héllo, world");
}

TEST(Synthetic, ByteSizesParseWithTheirUnitsAndBadOnesAreNamed) {
  EXPECT_EQ(parse_byte_size("2GB", "w: "), 2000000000);
  EXPECT_EQ(parse_byte_size("1.5GiB", "w: "), 1610612736);
  EXPECT_EQ(parse_byte_size("500 MB", "w: "), 500000000);
  EXPECT_EQ(parse_byte_size("4096", "w: "), 4096);
  for (const char* bad : {"", "GB", "2XB", "-1GB", "2 G"}) {
    expect_error([&] { parse_byte_size(bad, "make-model: --shard-size "); },
                 {"make-model: --shard-size '", "is not a size"});
  }
}

TEST(Synthetic, AnExperimentRunsASyntheticModelAndItsShapeIsInTheFingerprint) {
  TempDir out;
  const std::string yaml = out.file("exp.yaml");
  test::write_file(yaml,
                   "name: synth\n"
                   "output: " + out.path() + "/run\n"
                   "models:\n"
                   "  - name: neox\n"
                   "    synthetic: {family: gpt_neox, layers: 2, hidden: 32, heads: 4, vocab: 300,"
                   " max_positions: 256, seed: 1}\n"
                   "  - name: llama_bf16\n"
                   "    synthetic: {family: llama, layers: 1, hidden: 32, heads: 4, kv_heads: 2,"
                   " vocab: 300, dtype: bfloat16}\n"
                   "dataset: {type: toy, limit: 2}\n"
                   "explainers: [{method: atman}, {method: input_x_gradient}]\n");
  RunResult r = test::run_at_root(yaml);
  EXPECT_EQ(r.failures, 0);
  ASSERT_EQ(r.rows.size(), 4u);
  for (const auto& row : r.rows) EXPECT_EQ(row.samples, 2) << row.model << " " << row.explainer;
  std::ifstream in(r.results_json);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_NE(j.dump().find("synthetic"), std::string::npos);

  const std::string cfg = model_config_json(shape_spec(small("gpt2"), "x: "));
  const auto a = fingerprint_synthetic(cfg, synthetic_tokenizer_json(), 1, "float32");
  EXPECT_NE(a.weights, fingerprint_synthetic(cfg, synthetic_tokenizer_json(), 2, "float32").weights);
  EXPECT_NE(a.weights, fingerprint_synthetic(cfg, synthetic_tokenizer_json(), 1, "bfloat16").weights);
  EXPECT_NE(a.config, fingerprint_synthetic(model_config_json(shape_spec(small("gptj"), "x: ")),
                                            synthetic_tokenizer_json(), 1, "float32")
                          .config);

  // A model has a path or a shape; a wrong family is named with its line.
  test::write_file(yaml,
                   "name: synth\nmodels:\n  - name: m\n    synthetic: {family: bert}\n"
                   "dataset: {type: toy, limit: 2}\nexplainers: [{method: atman}]\n");
  expect_error([&] { test::run_at_root(yaml); }, {"exp.yaml:4", "family", "bert"});
  test::write_file(yaml,
                   "name: synth\nmodels:\n  - name: m\n    synthetic: {family: gpt2, heads: 3}\n"
                   "dataset: {type: toy, limit: 2}\nexplainers: [{method: atman}]\n");
  expect_error([&] { test::run_at_root(yaml); },
               {"exp.yaml:4: models[0].synthetic: hidden 64 is not a multiple of heads 3"});
  test::write_file(yaml,
                   "name: synth\nmodels:\n  - name: m\n    path: tests/fixtures/models/gpt2\n"
                   "    synthetic: {family: gpt2}\n"
                   "dataset: {type: toy, limit: 2}\nexplainers: [{method: atman}]\n");
  expect_error([&] { test::run_at_root(yaml); }, {"exp.yaml:4", "path or a synthetic shape"});
}

}  // namespace
}  // namespace xai
