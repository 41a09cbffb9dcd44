// train_toy_classifier (trainer.h): a word-level tokenizer over the toy classification task's
// words, a small BERT or RoBERTa sequence classifier trained on the task's train split with the
// class cross-entropy at [CLS], evaluated by accuracy on the test split; or (family vit) a small
// ViT on the toy shapes task's images, with ViTImageProcessor's preprocessing.
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "datasets/toy/toy_classify.h"
#include "datasets/toy/toy_shapes.h"
#include "framework/common/error.h"
#include "framework/image/image_sample.h"
#include "framework/train/train_common.h"

namespace xai {
namespace {

using namespace train_detail;

// tokenizer.json: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, then the task's words; split on whitespace,
// [CLS] text [SEP]. Hugging Face's tokenizers read it as well.
std::string word_level_tokenizer(const std::vector<std::string>& words) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  const std::vector<std::string> specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  for (size_t i = 0; i < specials.size(); ++i) {
    vocab[specials[i]] = i;
    added.push_back({{"id", i},
                     {"content", specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  for (const std::string& w : words) {
    if (!vocab.contains(w)) vocab[w] = vocab.size();
  }
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "WhitespaceSplit"}};
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}};
  j["decoder"] = nullptr;
  j["model"] = {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "[UNK]"}};
  return j.dump(2) + "\n";
}

// The encoder shape both toy classifiers share: width, depth, heads, MLP, GELU, BERT's epsilon.
ModelSpec encoder_shape(const TrainModelOptions& m, Family family, const std::string& model_type) {
  ModelSpec s;
  s.family = family;
  s.model_type = model_type;
  s.hidden_size = m.hidden;
  s.num_layers = m.layers;
  s.num_heads = m.heads;
  s.num_kv_heads = m.heads;
  s.intermediate_size = m.intermediate;
  s.activation = "gelu";
  s.norm_eps = 1e-12;
  return s;
}

ModelSpec classifier_spec(const TrainModelOptions& m, int64_t vocab_size) {
  ModelSpec s =
      encoder_shape(m, m.family == "roberta" ? Family::kRoberta : Family::kBert, m.family);
  s.vocab_size = vocab_size;
  s.max_positions = m.max_positions;
  s.type_vocab_size = s.family == Family::kRoberta ? 1 : 2;
  s.pad_token_id = 0;
  s.labels = toy::toy_class_labels();
  // Through config.json, so the same checks and defaults apply as to a downloaded checkpoint.
  return parse_model_config(model_config_json(s), "train: model");
}

ModelSpec vit_spec(const TrainModelOptions& m) {
  ModelSpec s = encoder_shape(m, Family::kVit, "vit");
  s.architecture = "ViTForImageClassification";
  s.image_size = m.image_size;
  s.patch_size = m.patch_size;
  s.num_channels = 3;
  s.qkv_bias = true;
  s.labels = toy::toy_shape_labels();
  return parse_model_config(model_config_json(s), "train: model");
}

struct Batch {
  at::Tensor ids, mask, labels;  // (B, T) int64, (B, T) int64, (B) int64
  at::Tensor pixels;             // images: (B, 3, S, S); ids and mask undefined
};

// Right-padded with [PAD] (id 0); the class is read at [CLS], position 0.
Batch make_batch(const std::vector<Encoded>& samples, size_t begin, size_t end) {
  if (samples[begin].image()) {
    Batch b;
    std::vector<at::Tensor> px;
    std::vector<int64_t> labels;
    for (size_t i = begin; i < end; ++i) {
      const Encoded& e = samples[i];
      px.push_back(at::from_blob(const_cast<float*>(e.pixels->data()), e.pixel_shape, at::kFloat));
      labels.push_back(e.target_ids[0]);
    }
    b.pixels = at::stack(px);
    b.labels = at::tensor(labels, at::kLong);
    return b;
  }
  int64_t T = 0;
  for (size_t i = begin; i < end; ++i) T = std::max(T, samples[i].size());
  const int64_t B = static_cast<int64_t>(end - begin);
  Batch b;
  b.ids = at::zeros({B, T}, at::kLong);
  b.mask = at::zeros({B, T}, at::kLong);
  b.labels = at::empty({B}, at::kLong);
  for (int64_t r = 0; r < B; ++r) {
    const Encoded& e = samples[begin + static_cast<size_t>(r)];
    b.ids[r].narrow(0, 0, e.size()).copy_(at::tensor(e.ids, at::kLong));
    b.mask[r].narrow(0, 0, e.size()).fill_(1);
    b.labels[r] = e.target_ids[0];
  }
  return b;
}

// (B, classes) logits at [CLS].
at::Tensor class_logits(Model& model, const Batch& b) {
  ForwardRequest req;
  if (b.pixels.defined()) {
    req.pixel_values = b.pixels;
  } else {
    req.input_ids = b.ids;
    req.attention_mask = b.mask;
  }
  req.logit_positions = at::zeros({1}, at::kLong);
  return model.forward(req).logits.select(1, 0);
}

std::vector<Encoded> encode_all(const std::vector<Sample>& samples, const Tokenizer& tok,
                                const ModelSpec& spec) {
  std::vector<Encoded> out;
  out.reserve(samples.size());
  for (const Sample& s : samples) {
    out.push_back(encode_sample(s, tok, spec.max_positions - spec.position_offset, spec.labels));
  }
  return out;
}

}  // namespace

double classification_accuracy(Model& model, const std::vector<Encoded>& samples,
                               int64_t batch_size, int64_t* correct) {
  at::NoGradGuard no_grad;
  int64_t right = 0;
  for (size_t i = 0; i < samples.size(); i += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(samples.size(), i + static_cast<size_t>(batch_size));
    const Batch b = make_batch(samples, i, end);
    right += class_logits(model, b).argmax(-1).eq(b.labels).sum().item<int64_t>();
  }
  if (correct != nullptr) *correct = right;
  return samples.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(samples.size());
}

TrainResult train_toy_classifier(const TrainOptions& o, std::ostream* log) {
  check_common_options(o);
  const auto t0 = Clock::now();
  at::set_num_threads(o.threads);
  auto say = [&](const std::string& line) {
    if (log != nullptr) *log << line << std::endl;
  };
  const TrainOptimOptions& opt = o.optim;

  TrainResult result;
  std::vector<Encoded> train_enc, test_enc;
  if (o.model.family == "vit") {
    result.spec = vit_spec(o.model);
    ImageProcessorConfig pc;  // ViTImageProcessor's defaults at the model's size
    pc.height = pc.width = result.spec.image_size;
    const ImageProcessor processor(pc);
    result.preprocessor_json = processor.to_json();
    const ImageGeometry geometry{result.spec.image_size, result.spec.patch_size};
    toy::ToyShapeOptions gen;
    gen.seed = o.data.seed;
    gen.size = result.spec.image_size;
    auto encode = [&](const std::string& split, int64_t n) {
      gen.split = split;
      std::vector<Encoded> out;
      for (int64_t i = 0; i < n; ++i) {
        out.push_back(encode_image_sample(toy::toy_shape_sample(gen, i), processor, geometry,
                                          result.spec.labels));
      }
      return out;
    };
    train_enc = encode("train", opt.steps * opt.batch_size);
    test_enc = encode("test", o.data.eval_samples);
  } else {
    toy::ToyClassOptions gen;
    gen.seed = o.data.seed;
    gen.split = "train";
    gen.n = opt.steps * opt.batch_size;
    const std::vector<Sample> train = toy::generate_toy_classification(gen);
    gen.split = "test";
    gen.n = o.data.eval_samples;
    const std::vector<Sample> test = toy::generate_toy_classification(gen);
    result.tokenizer_json = word_level_tokenizer(toy::toy_classification_words());
    const Tokenizer tok = Tokenizer::from_json_text(result.tokenizer_json, "train: tokenizer");
    result.spec = classifier_spec(o.model, tok.vocab_size());
    train_enc = encode_all(train, tok, result.spec);
    test_enc = encode_all(test, tok, result.spec);
  }

  result.weights = init_weights(result.spec, o.model.init_std, o.seed);
  for (auto& [name, t] : result.weights) t.requires_grad_(true);
  std::unique_ptr<Model> model = build_model(result.spec, result.weights);
  AdamW optimizer(opt, result.weights);
  const std::string input = result.spec.vocab_size > 0
                                ? str_cat("vocabulary ", result.spec.vocab_size)
                                : str_cat(result.spec.image_size, "x", result.spec.image_size,
                                          " images in ", result.spec.patch_size, "-pixel patches");
  say(str_cat("train: ", result.spec.model_type, " classifier, ", result.spec.num_layers,
              " layers x ", result.spec.hidden_size, ", ", result.spec.num_parameters(),
              " parameters, ", input, ", ", result.spec.labels.size(), " classes; ", opt.steps,
              " steps x batch ", opt.batch_size, ", ", o.threads, " thread(s)"));

  TrainProgress progress(o, result, say, "accuracy");
  auto run_eval = [&](int64_t steps) {
    int64_t correct = 0;
    classification_accuracy(*model, test_enc, 64, &correct);
    progress.evaluated(steps, correct, static_cast<int64_t>(test_enc.size()));
  };
  for (int64_t step = 0; step < opt.steps; ++step) {
    const size_t begin = static_cast<size_t>(step * opt.batch_size);
    const Batch b = make_batch(train_enc, begin, begin + static_cast<size_t>(opt.batch_size));
    const double lr = lr_at(opt, step);
    optimizer.set_lr(lr);
    optimizer.zero_grad();
    at::Tensor loss = at::cross_entropy_loss(class_logits(*model, b), b.labels);
    loss.backward();
    const double gnorm = optimizer.step();
    progress.step(step, loss.item<double>(), gnorm, lr);
    if (progress.eval_due(step)) run_eval(step + 1);
  }
  run_eval(opt.steps);
  progress.finish(t0);
  if (!o.output.empty()) write_checkpoint(o, result, say);
  return result;
}

}  // namespace xai
