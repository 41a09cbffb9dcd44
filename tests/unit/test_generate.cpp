// Generation (framework/model/generate.h) against transformers: greedy decoding over the key/value
// cache gives the tokens of a loop of full forwards in transformers (and of its own generate) on
// every decoder fixture (tests/reference/generation_fixtures.py); EOS and a stop callback end it;
// sampling follows the softmax (first-token frequencies over 1000 seeds within 4 standard errors
// of the probabilities) and is the same for the same seed; the wrong models are refused.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

#include "framework/common/error.h"
#include "framework/model/generate.h"
#include "framework/model/model.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::fixture;

nlohmann::json cases() {
  std::ifstream f(fixture("generation/greedy.json"));
  return nlohmann::json::parse(f).at("cases");
}

TEST(Generate, GreedyIsTransformersGreedyOnEveryDecoder) {
  std::map<std::string, std::unique_ptr<Model>> models;
  int checked = 0;
  for (const auto& c : cases()) {
    const std::string name = c.at("model");
    if (!models.count(name)) models[name] = load_model(fixture("models/" + name));
    GenerateOptions o;
    o.max_new_tokens = static_cast<int64_t>(c.at("generated").size());
    const Generation g = generate(*models[name], c.at("prompt").get<std::vector<int64_t>>(), o);
    EXPECT_EQ(g.ids, c.at("generated").get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(g.stopped_by, "length");
    EXPECT_EQ(g.forward_passes, o.max_new_tokens);  // the prompt once, then one token a step
    ++checked;
  }
  EXPECT_EQ(checked, 14);
}

TEST(Generate, EosAndAStopCallbackEndIt) {
  const auto c = cases()[1];  // gpt2, a repetitive continuation
  auto model = load_model(fixture("models/gpt2"));
  const auto prompt = c.at("prompt").get<std::vector<int64_t>>();
  const auto want = c.at("generated").get<std::vector<int64_t>>();
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.stop_ids = {want[2]};
  const Generation g = generate(*model, prompt, o);
  const auto first = std::find(want.begin(), want.end(), want[2]) - want.begin();
  EXPECT_EQ(g.ids, std::vector<int64_t>(want.begin(), want.begin() + first + 1));
  EXPECT_EQ(g.stopped_by, "eos");
  o.stop_ids.clear();
  o.stop = [](const std::vector<int64_t>& ids) { return ids.size() == 5; };
  const Generation s = generate(*model, prompt, o);
  EXPECT_EQ(s.ids, std::vector<int64_t>(want.begin(), want.begin() + 5));
  EXPECT_EQ(s.stopped_by, "stop");
}

TEST(Generate, SamplingFollowsTheSoftmaxAndItsSeed) {
  auto model = load_model(fixture("models/gpt2"));
  const std::vector<int64_t> prompt = {5, 17, 33, 2, 41};
  // The first token's probabilities at temperature 2 (a flatter softmax: many tokens drawn).
  at::Tensor p;
  {
    at::NoGradGuard g;
    ForwardRequest req;
    req.input_ids = at::tensor(prompt, at::kLong).view({1, -1});
    req.logit_positions = at::full({1}, 4, at::kLong);
    p = at::softmax(model->forward(req).logits[0][0].to(at::kDouble) / 2.0, -1);
  }
  GenerateOptions o;
  o.max_new_tokens = 1;
  o.temperature = 2.0;
  const int draws = 1000;
  std::map<int64_t, int> count;
  for (int s = 0; s < draws; ++s) {
    o.seed = static_cast<uint64_t>(s);
    count[generate(*model, prompt, o).ids[0]] += 1;
  }
  const at::Tensor top = std::get<1>(p.topk(5));
  for (int k = 0; k < 5; ++k) {
    const int64_t id = top[k].item<int64_t>();
    const double q = p[id].item<double>(), f = static_cast<double>(count[id]) / draws;
    EXPECT_NEAR(f, q, 4 * std::sqrt(q * (1 - q) / draws) + 1e-3) << "token " << id;
  }
  // The same seed, the same tokens; a near-zero temperature is greedy.
  o.max_new_tokens = 8;
  o.seed = 42;
  EXPECT_EQ(generate(*model, prompt, o).ids, generate(*model, prompt, o).ids);
  GenerateOptions greedy;
  greedy.max_new_tokens = 8;
  o.temperature = 1e-6;
  EXPECT_EQ(generate(*model, prompt, o).ids, generate(*model, prompt, greedy).ids);
}

TEST(Generate, RefusesClassifiersAndTooLongRuns) {
  auto bert = load_model(fixture("models/bert"));
  test::expect_error([&] { generate(*bert, {2, 5, 3}, {}); }, {"not a causal language model"});
  auto gpt2 = load_model(fixture("models/gpt2"));
  GenerateOptions o;
  o.max_new_tokens = 200;  // the fixture has 128 positions
  test::expect_error([&] { generate(*gpt2, {5, 6}, o); }, {"128 positions"});
  test::expect_error([&] { generate(*gpt2, {}, {}); }, {"the prompt has no token"});
}

}  // namespace
}  // namespace xai
