// parse_model_config on hostile config.json text (found by tests/fuzz/fuzz_model_config.cpp):
// each is one xai::Error naming the file and the key, never a crash or undefined behaviour.
#include <string>

#include "framework/common/error.h"
#include "framework/model/model_spec.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;

std::string gpt2(const std::string& n_embd, const std::string& extra = "") {
  return R"({"model_type": "gpt2", "vocab_size": 16, "n_layer": 1, "n_head": 2,
             "n_positions": 32, "n_embd": )" +
         n_embd + extra + "}";
}

std::string llama(const std::string& heads, const std::string& head_dim,
                  const std::string& extra = "") {
  return R"({"model_type": "llama", "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1,
             "intermediate_size": 8, "num_attention_heads": )" +
         heads + R"(, "num_key_value_heads": 1, "head_dim": )" + head_dim + extra + "}";
}

// nlohmann's dump() recurses per level: the message for a wrongly typed key used to dump the
// value and overflow the stack.
TEST(ModelSpecParse, DeeplyNestedValueIsNamedWithoutOverflowingTheStack) {
  const size_t depth = 1000000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  expect_error([&] { parse_model_config(gpt2(nested), "deep.json"); },
               {"deep.json", "'n_embd' must be an integer", "(got a nested list of 1 items)"});
}

TEST(ModelSpecParse, LongValuesAreShortenedInMessages) {
  const std::string list = "[\"" + std::string(500, 'x') + "\", 1]";
  try {
    parse_model_config(gpt2("8", ", \"eos_token_id\": " + list), "long.json");
    ADD_FAILURE() << "expected an xai::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'eos_token_id' must be an integer or a list of integers (got [\"xxx"),
              std::string::npos)
        << msg;
    EXPECT_LT(msg.size(), 200u) << msg;
  }
}

// n_inner defaults to 4 * n_embd: with n_embd near 2^62 that product was a signed overflow.
TEST(ModelSpecParse, SizesBeyondAnyModelAreRejectedBeforeArithmetic) {
  expect_error([] { parse_model_config(gpt2("4611686018427387904"), "huge.json"); },
               {"huge.json", "'hidden size' is 4611686018427387904", "at most 1048576"});
  expect_error([] { parse_model_config(gpt2("8", ", \"vocab_size\": 1099511627776"), "v.json"); },
               {"'vocab_size' is 1099511627776", "at most 16777216"});
  expect_error([] { parse_model_config(gpt2("8", ", \"n_layer\": 1000000"), "l.json"); },
               {"'number of layers' is 1000000", "at most 4096"});
  // Each factor is allowed, their product (q_proj's rows) is not.
  expect_error([] { parse_model_config(llama("1048576", "1024"), "q.json"); },
               {"'num_attention_heads * head_dim' is 1073741824"});
  EXPECT_EQ(parse_model_config(llama("4", "2"), "ok.json").head_dim, 2);
}

// json::value() threw nlohmann's type_error, not an xai::Error, for a non-string rope type.
TEST(ModelSpecParse, RopeScalingTypeThatIsNotAStringIsNamed) {
  expect_error(
      [] { parse_model_config(llama("4", "2", R"(, "rope_scaling": {"type": 16})"), "r.json"); },
      {"r.json rope_scaling: key 'type' must be a string (got 16)"});
  expect_error(
      [] {
        parse_model_config(llama("4", "2", R"(, "rope_scaling": {"rope_type": [1]})"), "r.json");
      },
      {"key 'rope_type' must be a string (got [1])"});
  const ModelSpec s =
      parse_model_config(llama("4", "2", R"(, "rope_scaling": {"rope_type": null, "type": "linear",
                                                   "factor": 2.0})"),
                         "r.json");
  EXPECT_EQ(s.rope_scaling.type, "linear");
  EXPECT_EQ(s.rope_scaling.factor, 2.0);
}

// GPT-NeoX: the rotated dimensions are int(head_dim * rotary_pct), as transformers computes them;
// they must be even and at least 2. The config written for a spec reads back as the same spec.
TEST(ModelSpecParse, GptNeoxRotaryDimensionsAndResidualAreReadAndWrittenBack) {
  auto neox = [](const std::string& extra) {
    return "{\"model_type\": \"gpt_neox\", \"vocab_size\": 100, \"hidden_size\": 64, "
           "\"num_hidden_layers\": 2, \"num_attention_heads\": 4" +
           extra + "}";
  };
  ModelSpec s = parse_model_config(neox(""), "c.json");
  EXPECT_EQ(s.family, Family::kGptNeox);
  EXPECT_EQ(s.head_dim, 16);
  EXPECT_EQ(s.rotary_dims, 4);  // the default rotary_pct 0.25
  EXPECT_TRUE(s.parallel_residual);
  EXPECT_EQ(s.intermediate_size, 256);
  EXPECT_EQ(s.activation, "gelu");
  EXPECT_FALSE(s.tie_word_embeddings);
  s = parse_model_config(neox(", \"rotary_pct\": 0.3, \"use_parallel_residual\": false, "
                              "\"rotary_emb_base\": 500"),
                         "c.json");
  EXPECT_EQ(s.rotary_dims, 4);  // int(16 * 0.3)
  EXPECT_FALSE(s.parallel_residual);
  EXPECT_EQ(s.rope_theta, 500);
  const ModelSpec back = parse_model_config(model_config_json(s), "written.json");
  EXPECT_EQ(back.rotary_dims, s.rotary_dims);
  EXPECT_EQ(back.parallel_residual, s.parallel_residual);
  EXPECT_EQ(back.rope_theta, s.rope_theta);
  EXPECT_EQ(back.intermediate_size, s.intermediate_size);
  expect_error([&] { parse_model_config(neox(", \"rotary_pct\": 0"), "c.json"); },
               {"c.json", "rotary_pct must be in (0, 1]"});
  expect_error([&] { parse_model_config(neox(", \"rotary_pct\": 0.1"), "c.json"); },
               {"c.json", "rotary_pct 0.1 gives 1 rotary dimensions", "even"});
}

// GPT-J: rotary_dim dimensions of each head (all when absent), interleaved; parallel residual and
// an LM-head bias always; the written config reads back as the same spec.
TEST(ModelSpecParse, GptjRotaryDimensionsAreReadAndWrittenBack) {
  auto gptj = [](const std::string& extra) {
    return "{\"model_type\": \"gptj\", \"vocab_size\": 100, \"n_embd\": 64, \"n_layer\": 2, "
           "\"n_head\": 4" +
           extra + "}";
  };
  ModelSpec s = parse_model_config(gptj(", \"rotary_dim\": 8"), "c.json");
  EXPECT_EQ(s.family, Family::kGptj);
  EXPECT_EQ(s.rotary_dims, 8);
  EXPECT_TRUE(s.rotary_interleaved);
  EXPECT_TRUE(s.parallel_residual);
  EXPECT_TRUE(s.lm_head_bias);
  EXPECT_EQ(s.intermediate_size, 256);
  EXPECT_EQ(parse_model_config(gptj(""), "c.json").rotary_dims, 16);
  const ModelSpec back = parse_model_config(model_config_json(s), "written.json");
  EXPECT_EQ(back.family, Family::kGptj);
  EXPECT_EQ(back.rotary_dims, 8);
  expect_error([&] { parse_model_config(gptj(", \"rotary_dim\": 7"), "c.json"); },
               {"c.json", "rotary_dim 7 must be even"});
}

}  // namespace
}  // namespace xai
