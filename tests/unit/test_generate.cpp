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

#include "datasets/dataset.h"
#include "framework/common/error.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/metrics.h"
#include "framework/model/generate.h"
#include "framework/model/model.h"
#include "framework/text/tokenizer.h"
#include "tests/unit/run_util.h"
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

// dataset.target: generate in a run: each sample's target is the model's greedy answer (the
// tokens generate() gives for the encoded prompt, up to the stop text), stored as the sample's
// target, and every explanation holds its exact match with the dataset's answer.
TEST(Generate, ARunExplainsTheModelsOwnAnswersAndScoresTheirExactMatch) {
  test::TempDir out;
  const std::string yaml = out.path() + "/exp.yaml";
  std::ofstream(yaml) << "name: gen\nmodels: [{name: toy, path: datasets/toy/models/toy_gpt2}]\n"
                         "dataset: {type: toy, path: datasets/toy/data/test.json, limit: 6,\n"
                         "          target: generate, max_new_tokens: 4, stop: \"\\n\"}\n"
                         "explainers: [{name: saliency}, {name: atman, kappa: off}]\n"
                         "runtime: {threads: 1, progress: off}\n";
  const RunResult r = test::run_at_root(yaml, {"output=" + out.path() + "/run"});
  ASSERT_EQ(r.failures, 0);
  const ResultsReader reader(r.results_h5);
  const SampleTable st = reader.samples("toy");
  auto model = load_model(std::string(XAI_SOURCE_DIR) + "/datasets/toy/models/toy_gpt2");
  const Tokenizer tok = Tokenizer::from_file(std::string(XAI_SOURCE_DIR) +
                                             "/datasets/toy/models/toy_gpt2/tokenizer.json");
  const std::unique_ptr<Dataset> given = open_dataset("toy", [] {
    DatasetOptions o;
    o.path = std::string(XAI_SOURCE_DIR) + "/datasets/toy/data/test.json";
    o.limit = 6;
    return o;
  }());
  double matched = 0;
  for (size_t i = 0; i < st.ids.size(); ++i) {
    int64_t k = 0;
    while (given->id(k) != st.ids[i]) ++k;
    const Sample s = given->get(k);
    GenerateOptions o;
    o.max_new_tokens = 4;
    if (model->spec().eos_token_id) o.stop_ids = {*model->spec().eos_token_id};
    o.stop = [&](const std::vector<int64_t>& ids) {
      return tok.decode(ids).find('\n') != std::string::npos;
    };
    const Generation g = generate(*model, tok.encode(s.prompt, true).ids, o);
    EXPECT_EQ(st.targets[i], tok.decode(g.ids, false)) << st.ids[i];
    EXPECT_EQ(st.tokens.row_size(i),
              static_cast<int64_t>(tok.encode(s.prompt, true).ids.size() + g.ids.size() - 1));
    const double em = exact_match(st.targets[i], s.target, "\n");
    for (const char* x : {"saliency", "atman"}) {
      const ExplainerTable t = reader.explainer("toy", x);
      EXPECT_EQ(t.metrics.at("exact_match")[i], em) << x << " " << st.ids[i];
    }
    matched += em;
  }
  EXPECT_GE(matched, 4) << "the toy model answers most toy questions";
  EXPECT_TRUE(reader.explainer_info("toy", "saliency").metrics.count("exact_match"));
  // Keys that only generation reads are refused without it, and pruning with it.
  test::expect_error(
      [&] {
        test::run_at_root(yaml, {"output=" + out.path() + "/r2", "dataset.target=given"});
      },
      {"dataset.stop", "only target: generate generates"});
  test::expect_error(
      [&] {
        test::run_at_root(yaml,
                          {"output=" + out.path() + "/r3", "metrics.pruning.explainer=saliency"});
      },
      {"metrics.pruning", "generated"});
}

}  // namespace
}  // namespace xai
