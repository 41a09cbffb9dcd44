// xai train on the toy task: a tiny run lowers the loss, is bitwise deterministic, writes a folder
// the normal loader reads; the YAML is strict; and the committed toy checkpoints reproduce, through
// the normal loader, the test accuracy their training measured.
#include <ATen/Parallel.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "framework/config/config.h"
#include "framework/image/image_processor.h"
#include "framework/image/image_sample.h"
#include "framework/model/model.h"
#include "framework/train/train_config.h"
#include "framework/train/trainer.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

std::string source_path(const std::string& rel) { return std::string(XAI_SOURCE_DIR) + "/" + rel; }

TrainOptions tiny(const std::string& family) {
  TrainOptions o;
  o.threads = 1;
  o.log_every = 5;
  o.tokenizer.corpus_samples = 500;
  o.model.family = family;
  o.model.layers = 2;
  o.model.hidden = 32;
  o.model.heads = 4;
  o.model.kv_heads = family == "llama" ? 2 : 0;
  o.model.intermediate = 64;
  o.optim.steps = 30;
  o.optim.batch_size = 16;
  o.optim.warmup_steps = 5;
  o.optim.lr = 3e-3;
  o.data.eval_samples = 20;
  o.data.eval_every = 0;
  return o;
}

TEST(Train, TinyRunLowersTheLoss) {
  const TrainResult r = train_toy_model(tiny("gpt2"), nullptr);
  ASSERT_EQ(r.loss_curve.size(), 6u);
  EXPECT_GT(r.loss_curve.front(), 4.0);  // about log(vocabulary) at the start
  EXPECT_LT(r.loss_curve.back(), r.loss_curve.front() - 1.0);
  EXPECT_EQ(r.steps, 30);
  EXPECT_EQ(r.test_total, 20);
  ASSERT_EQ(r.history.size(), 1u);
}

TEST(Train, SameOptionsGiveBitwiseTheSameWeights) {
  TrainOptions o = tiny("llama");
  o.optim.steps = 8;
  const TrainResult a = train_toy_model(o, nullptr), b = train_toy_model(o, nullptr);
  EXPECT_EQ(a.tokenizer_json, b.tokenizer_json);
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (const auto& [name, t] : a.weights) EXPECT_TRUE(at::equal(t, b.weights.at(name))) << name;
  EXPECT_EQ(a.spec.num_kv_heads, 2);
}

TEST(Train, WritesAFolderTheLoaderReads) {
  test::TempDir dir;
  TrainOptions o = tiny("llama");
  o.optim.steps = 5;
  o.optim.warmup_steps = 2;
  o.output = dir.path() + "/model";
  std::ostringstream log;
  const TrainResult r = train_toy_model(o, &log);
  EXPECT_NE(log.str().find("step     5/5"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("exact match"), std::string::npos);

  std::unique_ptr<Model> m = load_model(o.output);
  const Tokenizer tok = Tokenizer::from_file(o.output + "/tokenizer.json");
  EXPECT_EQ(m->spec().vocab_size, tok.vocab_size());
  DatasetOptions d;
  d.limit = 20;
  std::vector<Encoded> enc;
  for (const Sample& s : read_all(*open_dataset("toy", d)))
    enc.push_back(encode_sample(s, tok, m->spec().max_positions));
  int64_t correct = -1;
  greedy_exact_match(*m, enc, 7, &correct);
  EXPECT_EQ(correct, r.test_correct);
  const std::string log_json = test::read_file(o.output + "/train_log.json");
  EXPECT_NE(log_json.find("\"test_accuracy\""), std::string::npos);
}

// Options with model.offset_heads {1, 2, 3} in the first two of three layers of a width-64 model
// (head_dim 16, as in the toy configs), trained `steps` steps.
TrainOptions offset_options(const std::string& family, int64_t steps, double lr) {
  TrainOptions o = tiny(family);
  o.model.layers = 3;
  o.model.hidden = 64;
  o.model.kv_heads = 0;
  o.model.offset_heads = {1, 2, 3};
  o.model.offset_layers = 2;
  o.model.offset_sharpness = 16;
  o.model.rope_theta = 100;  // llama: three RoPE pairs fast enough for the offset heads
  o.optim.steps = steps;
  o.optim.warmup_steps = 0;
  o.optim.lr = lr;
  o.optim.min_lr = 0;
  return o;
}

// model.offset_heads: before training, head h of the first offset_layers layers puts most of
// its attention offset_heads[h] tokens back, for both families; free heads do not. The third case
// is a Llama with heads twice as wide as hidden / heads (model.head_dim) and rope_theta 10000:
// the same fast RoPE pairs as width 16 at theta 100 (theta^(2/head_dim) is the same), plus slow
// ones.
TEST(Train, OffsetHeadsStartLookingTheirDistanceBack) {
  for (const int variant : {0, 1, 2}) {
    const std::string family = variant == 0 ? "gpt2" : "llama";
    test::TempDir dir;
    TrainOptions o = offset_options(family, 1, 1e-9);
    if (variant == 2) {
      o.model.head_dim = 32;
      o.model.rope_theta = 10000;
    }
    o.output = dir.path() + "/model";
    train_toy_model(o, nullptr);
    std::unique_ptr<Model> m = load_model(o.output);
    EXPECT_EQ(m->spec().head_dim, variant == 2 ? 32 : 16);
    const int64_t T = 40;
    ForwardRequest req;
    req.input_ids =
        at::arange(T, at::kLong).remainder(m->spec().vocab_size - 1).add(1).view({1, T});
    AttentionControl keep;
    keep.keep_probs = true;
    const ForwardResult r = m->forward(req, keep);
    for (int64_t l = 0; l < 3; ++l) {
      for (int64_t h = 0; h < 4; ++h) {
        const bool offset_head = l < 2 && h < 3;
        const int64_t k = offset_head ? h + 1 : 1;
        // (T, T) probabilities; the mean over rows i >= 8 + k of the weight on key i - k.
        const at::Tensor probs = r.attn_probs[static_cast<size_t>(l)][0][h];
        const double at_k = probs.diagonal(-k).slice(0, 8).mean().item<double>();
        if (offset_head) {
          EXPECT_GT(at_k, 0.8) << variant << " layer " << l << " head " << h;
        } else {
          EXPECT_LT(at_k, 0.5) << variant << " layer " << l << " head " << h;
        }
      }
    }
  }
}

// model.offset_pinned keeps the offset heads' queries and keys and the position code through
// training while the rest learns.
TEST(Train, PinnedOffsetHeadsKeepTheirWeights) {
  TrainOptions o = offset_options("gpt2", 1, 1e-9);
  o.model.offset_pinned = true;
  const TrainResult start = train_toy_model(o, nullptr);
  o.optim.steps = 5;
  o.optim.lr = 3e-3;
  const TrainResult trained = train_toy_model(o, nullptr);
  EXPECT_TRUE(at::equal(start.weights.at("transformer.wpe.weight"),
                        trained.weights.at("transformer.wpe.weight")));
  const int64_t D = 64, Dh = 16;
  for (const char* layer : {"transformer.h.0.", "transformer.h.1."}) {
    const at::Tensor a = start.weights.at(std::string(layer) + "attn.c_attn.weight");
    const at::Tensor b = trained.weights.at(std::string(layer) + "attn.c_attn.weight");
    EXPECT_TRUE(at::equal(a.slice(1, 0, 3 * Dh), b.slice(1, 0, 3 * Dh))) << layer << " queries";
    EXPECT_TRUE(at::equal(a.slice(1, D, D + 3 * Dh), b.slice(1, D, D + 3 * Dh))) << layer;
    EXPECT_FALSE(at::equal(a.slice(1, 3 * Dh, D), b.slice(1, 3 * Dh, D))) << layer << " free head";
    EXPECT_FALSE(at::equal(a.slice(1, 2 * D, 3 * D), b.slice(1, 2 * D, 3 * D))) << layer;
  }
}

TEST(TrainConfig, ReadsEveryKeyAndRejectsMisspeltOnes) {
  const Config c = Config::parse(
      "output: out\nthreads: 2\nmodel: {family: llama, kv_heads: 2, head_dim: 24, offset_heads: "
      "[1, 2]}\n"
      "train: {steps: 7, lr: 0.01}\n",
      "t.yaml");
  const TrainOptions o = read_train_options(c.root());
  c.finish_all();
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.model.family, "llama");
  EXPECT_EQ(o.optim.steps, 7);
  EXPECT_DOUBLE_EQ(o.optim.lr, 0.01);
  EXPECT_EQ(o.model.offset_heads, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(o.model.head_dim, 24);

  const Config bad = Config::parse("train: {stpes: 7}\n", "t.yaml");
  read_train_options(bad.root());
  test::expect_error([&] { bad.finish_all(); }, {"stpes", "steps"});
}

TEST(TrainConfig, ShippedConfigsAreValid) {
  for (const char* name : {"toy_gpt2", "toy_llama", "toy_bert"}) {
    const Config c = Config::load(source_path(std::string("configs/train/") + name + ".yaml"));
    const TrainOptions o = read_train_options(c.root());
    EXPECT_NO_THROW(c.finish_all()) << name;
    EXPECT_EQ(o.output, std::string("datasets/toy/models/") + name);
  }
}

// The shipped checkpoints, on the committed test split: the normal loader and greedy decoding
// reproduce the exact match `xai train` measured (train_log.json), and it reaches `floor` (guessing
// one of the context's cities gives about 24% on this split; the target is 95%).
void expect_toy_model_answers(const std::string& name, double floor) {
  const std::string dir = source_path("datasets/toy/models/" + name);
  std::unique_ptr<Model> m = load_model(dir);
  const Tokenizer tok = Tokenizer::from_file(dir + "/tokenizer.json");
  const nlohmann::json log = nlohmann::json::parse(test::read_file(dir + "/train_log.json"));
  const int64_t total = log.at("test_total").get<int64_t>();
  ASSERT_GT(total, 0);
  DatasetOptions d;
  d.path = source_path("datasets/toy/data/test.json");
  d.limit = total;
  std::vector<Encoded> enc;
  for (const Sample& s : read_all(*open_dataset("squad", d))) {
    enc.push_back(encode_sample(s, tok, m->spec().max_positions));
    EXPECT_EQ(enc.back().num_targets(), 1) << s.id << ": the answer is one token";
  }
  int64_t correct = 0;
  const double acc = greedy_exact_match(*m, enc, 100, &correct);
  EXPECT_EQ(correct, log.at("test_correct").get<int64_t>()) << name;
  EXPECT_GE(acc, floor) << name << ": " << correct << "/" << total;
}

TEST(ToyModels, Gpt2ReproducesItsTrainingAccuracy) { expect_toy_model_answers("toy_gpt2", 0.95); }

TEST(ToyModels, LlamaReproducesItsTrainingAccuracy) { expect_toy_model_answers("toy_llama", 0.95); }

// task: classify. A short run of a tiny BERT learns the toy classification task, bitwise
// deterministically, and writes a classifier checkpoint whose labels and tokenizer the loader
// reads.
TrainOptions tiny_classifier(const std::string& family) {
  TrainOptions o;
  o.task = "classify";
  o.threads = 1;
  o.log_every = 10;
  o.model.family = family;
  o.model.layers = 1;
  o.model.hidden = 32;
  o.model.heads = 2;
  o.model.intermediate = 64;
  o.model.max_positions = 32;
  o.model.init_std = 0.05;
  o.optim.steps = 150;
  o.optim.batch_size = 32;
  o.optim.warmup_steps = 10;
  o.optim.lr = 5e-3;
  o.optim.weight_decay = 0.01;
  o.data.eval_samples = 100;
  o.data.eval_every = 0;
  return o;
}

TEST(TrainClassifier, TinyRunLearnsTheTaskDeterministically) {
  for (const char* family : {"bert", "roberta"}) {
    const TrainResult a = train_toy_classifier(tiny_classifier(family), nullptr);
    EXPECT_GT(a.loss_curve.front(), 0.8) << family;  // about log(3) at the start
    EXPECT_LT(a.loss_curve.back(), 0.3) << family;
    EXPECT_GE(a.test_accuracy, 0.9) << family;
    EXPECT_EQ(a.spec.labels, (std::vector<std::string>{"negative", "neutral", "positive"}));
    TrainOptions o = tiny_classifier(family);
    o.optim.steps = 12;
    const TrainResult b = train_toy_classifier(o, nullptr), c = train_toy_classifier(o, nullptr);
    for (const auto& [name, t] : b.weights) EXPECT_TRUE(at::equal(t, c.weights.at(name))) << name;
  }
}

TEST(TrainClassifier, WritesAClassifierTheLoaderAndTokenizerRead) {
  test::TempDir dir;
  TrainOptions o = tiny_classifier("bert");
  o.optim.steps = 12;
  o.output = dir.path();
  train_toy_model(o, nullptr);  // dispatches on task
  std::unique_ptr<Model> m = load_model(dir.path());
  EXPECT_EQ(m->spec().labels, (std::vector<std::string>{"negative", "neutral", "positive"}));
  const Tokenizer tok = Tokenizer::from_file(dir.file("tokenizer.json"));
  const Encoding e = tok.encode("truly wonderful film", true);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "truly", "wonderful", "film", "[SEP]"}));
}

// A ViT on the toy shapes: learns, is deterministic, and writes a folder whose config and
// preprocessor_config.json the loader and the image processor read back.
TEST(TrainClassifier, TinyVitLearnsTheShapesAndWritesItsImageProcessor) {
  TrainOptions o = tiny_classifier("vit");
  o.model.image_size = 16;
  o.model.patch_size = 4;
  o.model.hidden = 32;
  o.optim.lr = 3e-3;
  o.data.eval_samples = 64;
  const TrainResult a = train_toy_classifier(o, nullptr);
  EXPECT_GT(a.loss_curve.front(), 1.2);  // about log(4) at the start
  EXPECT_LT(a.loss_curve.back(), a.loss_curve.front() - 0.1);
  EXPECT_GT(a.test_accuracy, 0.4);  // well above a quarter after 150 steps (1 s)
  EXPECT_EQ(a.spec.labels, (std::vector<std::string>{"circle", "square", "triangle", "cross"}));
  EXPECT_TRUE(a.tokenizer_json.empty());
  test::TempDir dir;
  o.optim.steps = 8;
  o.optim.warmup_steps = 2;
  o.output = dir.path();
  const TrainResult b = train_toy_model(o, nullptr), c = train_toy_classifier(o, nullptr);
  for (const auto& [name, t] : b.weights) EXPECT_TRUE(at::equal(t, c.weights.at(name))) << name;
  std::unique_ptr<Model> m = load_model(dir.path());
  EXPECT_EQ(m->spec().image_size, 16);
  EXPECT_EQ(m->spec().num_patches(), 16);
  const ImageProcessor p = ImageProcessor::from_file(dir.file("preprocessor_config.json"));
  EXPECT_EQ(p.out_height(), 16);
  EXPECT_FALSE(std::filesystem::exists(dir.file("tokenizer.json")));
}

// The shipped toy ViT reproduces, through the loader and the image processor, the accuracy its
// training measured on the toy_shapes test split (four classes; the bar is 95%).
TEST(ToyModels, VitReproducesItsTrainingAccuracy) {
  const std::string dir = source_path("datasets/toy/models/toy_vit");
  std::unique_ptr<Model> m = load_model(dir);
  const ImageProcessor p = ImageProcessor::from_file(dir + "/preprocessor_config.json");
  const nlohmann::json log = nlohmann::json::parse(test::read_file(dir + "/train_log.json"));
  DatasetOptions d;
  d.limit = log.at("test_total").get<int64_t>();
  d.image_size = m->spec().image_size;
  std::vector<Encoded> enc;
  for (const Sample& s : read_all(*open_dataset("toy_shapes", d))) {
    enc.push_back(
        encode_image_sample(s, p, {m->spec().image_size, m->spec().patch_size}, m->spec().labels));
  }
  int64_t correct = 0;
  const double acc = classification_accuracy(*m, enc, 100, &correct);
  EXPECT_EQ(correct, log.at("test_correct").get<int64_t>());
  EXPECT_GE(acc, 0.95) << correct << "/" << enc.size();
}

// The shipped toy BERT reproduces, through the normal loader, the accuracy its training measured
// on the toy_classify test split (three classes: guessing gives a third; the bar is 95%).
TEST(ToyModels, BertReproducesItsTrainingAccuracy) {
  const std::string dir = source_path("datasets/toy/models/toy_bert");
  std::unique_ptr<Model> m = load_model(dir);
  const Tokenizer tok = Tokenizer::from_file(dir + "/tokenizer.json");
  const nlohmann::json log = nlohmann::json::parse(test::read_file(dir + "/train_log.json"));
  DatasetOptions d;
  d.limit = log.at("test_total").get<int64_t>();
  std::vector<Encoded> enc;
  for (const Sample& s : read_all(*open_dataset("toy_classify", d))) {
    enc.push_back(encode_sample(s, tok, m->spec().max_positions, m->spec().labels));
  }
  int64_t correct = 0;
  const double acc = classification_accuracy(*m, enc, 100, &correct);
  EXPECT_EQ(correct, log.at("test_correct").get<int64_t>());
  EXPECT_GE(acc, 0.95) << correct << "/" << enc.size();
}

}  // namespace
}  // namespace xai
