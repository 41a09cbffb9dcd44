// Loading checkpoints: the bad inputs a user meets (each a one-line error naming file and problem)
// and the layouts and dtypes that must load.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/model/arch_registry.h"
#include "framework/model/model.h"
#include "framework/run/memory_meter.h"
#include "framework/tensor_io/checkpoint.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::fixture;
using test::TempDir;

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

Tensors fixture_tensors(const std::string& name) {
  Checkpoint ck = Checkpoint::open(fixture("models/" + name));
  Tensors out;
  for (const auto& n : ck.names()) out.emplace_back(n, ck.get(n).clone());
  return out;
}

nlohmann::json fixture_config(const std::string& name) {
  return nlohmann::json::parse(test::read_file(fixture("models/" + name + "/config.json")));
}

// A checkpoint folder in `dir` from a config and tensors.
void write_model(const TempDir& dir, const nlohmann::json& config, const Tensors& tensors) {
  test::write_file(dir.file("config.json"), config.dump(2));
  write_safetensors(dir.file("model.safetensors"), tensors);
}

at::Tensor logits_of(Model& m) {
  ForwardRequest req;
  req.input_ids = SafetensorsFile::open(fixture("models/gpt2/reference.safetensors"))
                      ->get("input_ids")
                      .remainder(m.spec().vocab_size);
  at::NoGradGuard g;
  return m.forward(req).logits;
}

TEST(ModelLoading, MissingTensorIsNamed) {
  TempDir dir;
  Tensors t = fixture_tensors("gpt2");
  t.erase(std::remove_if(t.begin(), t.end(),
                         [](const auto& p) { return p.first == "transformer.h.1.ln_2.bias"; }),
          t.end());
  write_model(dir, fixture_config("gpt2"), t);
  expect_error([&] { load_model(dir.path()); },
               {dir.path().c_str(), "missing tensor 'transformer.h.1.ln_2.bias'"});
}

TEST(ModelLoading, WrongShapeIsNamedWithBothShapes) {
  TempDir dir;
  nlohmann::json cfg = fixture_config("gpt2");
  cfg["n_inner"] = 100;
  write_model(dir, cfg, fixture_tensors("gpt2"));
  expect_error([&] { load_model(dir.path()); },
               {"'transformer.h.0.mlp.c_fc.weight' has shape [64, 256]", "implies [64, 100]"});
}

TEST(ModelLoading, NonFloatingWeightIsRejected) {
  TempDir dir;
  Tensors t = fixture_tensors("qwen2");
  for (auto& [n, w] : t)
    if (n == "model.norm.weight") w = w.to(at::kInt);
  write_model(dir, fixture_config("qwen2"), t);
  expect_error([&] { load_model(dir.path()); }, {"'model.norm.weight' has dtype I32"});
}

TEST(ModelLoading, UnknownModelTypeIsNamed) {
  TempDir dir;
  nlohmann::json cfg = fixture_config("gpt2");
  cfg["model_type"] = "t5";
  write_model(dir, cfg, fixture_tensors("gpt2"));
  expect_error([&] { load_model(dir.path()); },
               {"config.json", "model_type 't5' is not supported", "gpt2, llama", "bert"});
}

TEST(ModelLoading, MalformedOrMissingConfig) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), fixture_tensors("gpt2"));
  expect_error([&] { load_model(dir.path()); }, {"config.json", "cannot open"});
  test::write_file(dir.file("config.json"), "{\"model_type\": \"gpt2\",");
  expect_error([&] { load_model(dir.path()); }, {"config.json", "malformed JSON"});
  test::write_file(dir.file("config.json"), R"({"model_type": "gpt2", "n_embd": 64})");
  expect_error([&] { load_model(dir.path()); }, {"config.json", "missing required key"});
  test::write_file(dir.file("config.json"),
                   R"({"model_type": "gpt2", "vocab_size": "many", "n_embd": 64})");
  expect_error([&] { load_model(dir.path()); }, {"'vocab_size' must be an integer"});
}

TEST(ModelLoading, UnsupportedRopeScalingIsNamed) {
  TempDir dir;
  nlohmann::json cfg = fixture_config("qwen2");
  cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write_model(dir, cfg, fixture_tensors("qwen2"));
  expect_error([&] { load_model(dir.path()); }, {"rope_scaling type 'yarn' is not supported"});
}

TEST(ModelLoading, MissingFolderIsNamed) {
  expect_error([] { load_model("/no/such/model"); }, {"/no/such/model", "does not exist"});
}

TEST(ModelLoading, UnknownExtraTensorsAreReportedNotFatal) {
  TempDir dir;
  Tensors t = fixture_tensors("gpt2");
  t.emplace_back("extra.weight", at::zeros({2}));
  write_model(dir, fixture_config("gpt2"), t);
  Checkpoint ck = Checkpoint::open(dir.path());
  CheckpointBinding b = bind_checkpoint(ck, read_model_config(dir.file("config.json")));
  EXPECT_EQ(b.unknown, (std::vector<std::string>{"extra.weight"}));
  auto m = load_model(dir.path());
  auto ref = load_model(fixture("models/gpt2"));
  EXPECT_TRUE(at::equal(logits_of(*m), logits_of(*ref)));
}

TEST(ModelLoading, BaseModelLayoutWithoutPrefixLoads) {
  TempDir dir;
  Tensors t;
  for (auto& [n, w] : fixture_tensors("gpt2")) {
    t.emplace_back(n.rfind("transformer.", 0) == 0 ? n.substr(12) : n, w);
  }
  write_model(dir, fixture_config("gpt2"), t);
  auto m = load_model(dir.path());
  auto ref = load_model(fixture("models/gpt2"));
  EXPECT_TRUE(at::equal(logits_of(*m), logits_of(*ref)));
}

TEST(ModelLoading, HalfPrecisionCheckpointsLoadAsTheirRoundedValues) {
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    TempDir half, rounded;
    Tensors h, r;
    for (auto& [n, w] : fixture_tensors("qwen2")) {
      h.emplace_back(n, w.to(dtype));
      r.emplace_back(n, w.to(dtype).to(at::kFloat));
    }
    nlohmann::json cfg = fixture_config("qwen2");
    write_model(half, cfg, h);
    write_model(rounded, cfg, r);
    auto a = load_model(half.path());
    auto b = load_model(rounded.path());
    EXPECT_EQ(a->dtype(), at::kFloat);  // CPU computes in float32
    EXPECT_TRUE(at::equal(logits_of(*a), logits_of(*b))) << c10::toString(dtype);
    // Against the float32 checkpoint: the rounding of the weights alone moves the logits by at
    // most 6% (bfloat16, 8 bits of mantissa; 3.5% measured) or 0.6% (float16, 11 bits; 0.25%
    // measured) of their largest magnitude.
    const at::Tensor want = logits_of(*load_model(fixture("models/qwen2")));
    const double err = (logits_of(*a) - want).abs().max().item<double>();
    const double scale = want.abs().max().item<double>();
    EXPECT_GT(err, 0.0) << c10::toString(dtype) << ": the weights were not rounded";
    EXPECT_LT(err, (dtype == at::kHalf ? 6e-3 : 6e-2) * scale) << c10::toString(dtype);
  }
}

TEST(ModelLoading, Float32WeightsAreUsedInPlaceAndReadAtLoad) {
  // A GPT-2 whose embedding alone is 64 MiB: loading maps it and copies nothing; its pages are
  // read at load (it fits in half of the free memory), so the first explanation does not pay.
  TempDir dir;
  nlohmann::json cfg = fixture_config("gpt2");
  cfg["vocab_size"] = 65536;
  cfg["n_embd"] = 256;
  cfg["n_head"] = 4;
  cfg["n_layer"] = 1;
  {
    Tensors t;
    Checkpoint ck = Checkpoint::open(fixture("models/gpt2"));
    ModelSpec spec = parse_model_config(cfg.dump(), "big");
    for (const auto& e : tensor_table(spec)) {
      if (e.role != TensorRole::kTied) t.emplace_back(e.name, at::full(e.shape, 0.01f));
    }
    write_model(dir, cfg, t);
  }
  const int64_t anon = MemoryMeter::anonymous_resident_bytes(),
                file = MemoryMeter::file_resident_bytes();
  auto m = load_model(dir.path());
  const int64_t copied = MemoryMeter::anonymous_resident_bytes() - anon;
  EXPECT_LT(copied, 16 << 20) << "loading copied " << copied << " bytes of weights";
  EXPECT_GT(MemoryMeter::file_resident_bytes() - file, 60 << 20)
      << "the weights' pages were not read at load";
  at::Tensor e = m->embed(at::full({1, 1}, 123, at::kLong));
  EXPECT_FLOAT_EQ(e[0][0][0].item<float>(), 0.01f);
  EXPECT_LT(MemoryMeter::anonymous_resident_bytes() - anon, 16 << 20);
}

// models[].dtype / --dtype bfloat16: the weights are held in bfloat16 (the float32 checkpoint
// converted once), the logits stay close to float32's, and every family runs; float16 is refused on
// the CPU with the way out.
TEST(ModelLoading, Bfloat16WeightsOnTheCpuGiveLogitsCloseToFloat32) {
  for (const char* name : {"gpt2", "llama_gqa", "gpt_neox", "gptj"}) {
    auto fp32 = load_model(fixture(std::string("models/") + name));
    LoadOptions bf;
    bf.dtype = at::kBFloat16;
    auto bf16 = load_model(fixture(std::string("models/") + name), bf);
    EXPECT_EQ(bf16->dtype(), at::kBFloat16) << name;
    const at::Tensor a = logits_of(*fp32), b = logits_of(*bf16);
    EXPECT_EQ(b.scalar_type(), at::kFloat);  // logits come back in float32
    const double scale = a.abs().max().item<double>();
    const double err = (a - b).abs().max().item<double>();
    // transformers' own bfloat16 (from_pretrained with torch_dtype=bfloat16) on these fixtures:
    // gpt2 0.138, llama_gqa 0.431, gpt_neox 0.111, gptj 0.101; xai: 0.138, 0.431, 0.133, 0.103.
    EXPECT_LT(err, 0.1 * scale) << name << ": " << err << " against logits up to " << scale;
    std::printf("  %s: bfloat16 logits within %.3f of float32's (up to %.2f)\n", name, err, scale);
    EXPECT_GT(err, 0.0) << name << ": bfloat16 gave float32's logits bit for bit";
  }
  LoadOptions half;
  half.dtype = at::kHalf;
  expect_error([&] { load_model(fixture("models/gpt2"), half); },
               {"float16 weights on the CPU", "bfloat16"});
  expect_error([] { weights_dtype("fp8", "--dtype "); }, {"--dtype 'fp8'", "bfloat16"});
  EXPECT_FALSE(weights_dtype("auto", "").has_value());
}

TEST(ModelLoading, SequenceLongerThanLearnedPositionsIsRejected) {
  auto m = load_model(fixture("models/gpt2"));
  ForwardRequest req;
  req.input_ids = at::zeros({1, m->spec().max_positions + 1}, at::kLong);
  expect_error([&] { m->forward(req); }, {"beyond the model's 128 learned positions"});
}

}  // namespace
}  // namespace xai

namespace xai {
namespace {

TEST(ModelSpecJson, WritesConfigsThatReadBackToTheSameSpec) {
  for (const char* name : {"gpt2", "llama_gqa", "llama3_rope", "qwen2", "mistral"}) {
    ModelSpec a = read_model_config(test::fixture(std::string("models/") + name + "/config.json"));
    ModelSpec b = parse_model_config(model_config_json(a), "round trip");
    EXPECT_EQ(model_config_json(a), model_config_json(b)) << name;
    EXPECT_EQ(a.num_parameters(), b.num_parameters()) << name;
    EXPECT_EQ(a.head_dim, b.head_dim) << name;
    EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type) << name;
    EXPECT_EQ(a.sliding_window, b.sliding_window) << name;
    EXPECT_EQ(a.qkv_bias, b.qkv_bias) << name;
  }
}

TEST(BuildModel, SavedModelLoadsWithTheSameLogits) {
  test::TempDir dir;
  ModelSpec spec = read_model_config(test::fixture("models/llama3_rope/config.json"));
  TensorMap w = init_weights(spec, 0.2, 7);
  auto in_memory = build_model(spec, w);
  save_model(dir.path(), spec, w);
  auto loaded = load_model(dir.path());
  ForwardRequest req;
  req.input_ids = at::arange(10, at::kLong).view({1, 10});
  at::NoGradGuard g;
  EXPECT_TRUE(at::equal(in_memory->forward(req).logits, loaded->forward(req).logits));
}

TEST(BuildModel, ParametersGivenAreTheModelsOwn) {
  // A training loop's parameters: gradients of the loss reach them.
  ModelSpec spec = read_model_config(test::fixture("models/gpt2/config.json"));
  TensorMap w = init_weights(spec, 0.02, 1);
  for (auto& [n, t] : w) t.requires_grad_(true);
  auto m = build_model(spec, w);
  ForwardRequest req;
  req.input_ids = at::arange(8, at::kLong).view({1, 8});
  m->forward(req).logits.sum().backward();
  for (const auto& [n, t] : w) {
    ASSERT_TRUE(t.grad().defined()) << n;
  }
  EXPECT_GT(w.at("transformer.h.1.mlp.c_fc.weight").grad().abs().sum().item<double>(), 0);
}

TEST(BuildModel, WrongOrMissingWeightsAreNamed) {
  ModelSpec spec = read_model_config(test::fixture("models/qwen2/config.json"));
  TensorMap w = init_weights(spec);
  w.erase("model.norm.weight");
  w["model.layers.0.self_attn.q_proj.weight"] = at::zeros({3, 3});
  test::expect_error(
      [&] { build_model(spec, w); },
      {"missing 'model.norm.weight'", "'model.layers.0.self_attn.q_proj.weight' has shape [3, 3]"});
}

}  // namespace
}  // namespace xai
