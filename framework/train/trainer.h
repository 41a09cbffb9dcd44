// Trains the toy models: a byte-level BPE tokenizer on the toy task's text, then a small GPT-2 or
// Llama on the toy train split (AdamW, warmup + cosine, clipping), evaluated by greedy exact
// match on the test split, and written as a checkpoint folder load_model reads. With task:
// classify, a word-level tokenizer and a small BERT or RoBERTa classifier on the toy
// classification task (classifier_trainer.cpp), evaluated by accuracy.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "framework/model/model.h"
#include "framework/text/encoded.h"
#include "framework/text/tokenizer.h"

namespace xai {

struct TrainTokenizerOptions {
  std::string from;               // an existing tokenizer.json to use instead of training one
  int64_t vocab_size = 512;       // upper bound (training stops when no pair occurs twice)
  int64_t corpus_samples = 4000;  // training sequences whose text the tokenizer sees
  // A space before a text's first word, so the context's first name is the same token as the
  // name in the question (see BpeTrainerOptions::add_prefix_space).
  bool add_prefix_space = true;
};

struct TrainModelOptions {
  std::string family = "gpt2";  // gpt2 | llama; task classify: bert | roberta | vit
  int64_t layers = 4;
  int64_t hidden = 128;
  int64_t heads = 4;
  int64_t kv_heads = 0;  // llama: grouped-query attention; 0 = heads
  // llama: width of each head (0 = hidden / heads). Wider heads give RoPE more slow pairs, which
  // content matching over the whole context needs, beside the fast ones the offset heads use.
  int64_t head_dim = 0;
  int64_t intermediate = 512;
  int64_t max_positions = 128;
  int64_t image_size = 32;  // vit: square images of this many pixels
  int64_t patch_size = 4;   // vit: cut into patches of this many pixels
  bool tie_embeddings = true;
  double rope_theta = 10000.0;
  double init_std = 0.02;
  // GPT-2: start the learned positions as sinusoids of this RMS per dimension (0 = N(0, init_std)
  // like the rest), so heads that look a fixed distance back are a linear map away.
  double sinusoidal_positions = 0.0;
  // > 0: every head starts with its key projection equal to its query projection, drawn
  // N(0, mimetic_qk / sqrt(hidden)), so a token attends to similar tokens (the same name, the same
  // verb, nearby positions) from the first step ("mimetic" initialisation); 0 = plain.
  double mimetic_qk = 0.0;
  // Heads that start out looking a fixed distance back: in each of the first offset_layers layers,
  // head h attends offset_heads[h] tokens back (0 or past the list: a free head). A city is 2 and
  // 3 tokens after its verb and person, the answer cue 4 and 5 after the asked ones; heads at
  // those offsets hand them over from the start, which neither family learned in 6000 steps.
  // GPT-2 gets a sinusoidal position code in the last head_dim dimensions (the tokens start in the
  // others), Llama one constant dimension that RoPE turns into the same code (using only the pairs
  // that turn >= 0.3 rad a token: rope_theta about 100); no layer writes into these dimensions at
  // the start. Llama: a key/value head serves offset heads only or free heads only.
  std::vector<int64_t> offset_heads;
  int64_t offset_layers = 1;
  double offset_sharpness = 2.0;  // attention logit per unit of the positional kernel
  // Keep the offset heads' queries and keys and the position code they read as initialised
  // (restored after every optimizer step), so training cannot wash them out.
  bool offset_pinned = false;
};

struct TrainOptimOptions {
  int64_t steps = 2000;
  int64_t batch_size = 32;
  int64_t warmup_steps = 100;
  double lr = 1e-3;           // peak, after the linear warmup
  double min_lr = 1e-4;       // the cosine decays to this at the last step
  double weight_decay = 0.1;  // on matrices and embeddings only
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // max global L2 norm; <= 0 = off
  // Weight of the next-token loss on the prompt tokens, relative to the target tokens (1).
  double context_loss_weight = 0.1;
};

struct TrainDataOptions {
  uint64_t seed = 0;                    // toy generator seed for both splits
  int questions_per_context = 1;        // questions (each with its answer) per training sequence
  double single_attribute_share = 0.0;  // train stream: see toy::ToyOptions
  // Share of training sequences that restate the context's facts in another order instead of
  // asking questions (verbs and cities are the targets there).
  double restate_share = 0.0;
  // Share of training sequences whose answers are whole sentences ("Answer: Ben works in
  // Lima."): the person and verb must be copied from the question, then the city follows them.
  double sentence_share = 0.0;
  int min_facts = 3;  // train stream: facts per context
  int max_facts = 8;
  int64_t eval_samples = 500;  // test questions for the exact-match evaluation
  int64_t eval_every = 500;    // steps between evaluations (and once at the end); 0 = end only
};

struct TrainOptions {
  // next_token: a decoder on the toy QA task; classify: an encoder classifier on the toy
  // classification task (datasets/toy/toy_classify.h).
  std::string task = "next_token";
  std::string output;  // checkpoint folder; "" = do not write
  uint64_t seed = 0;   // weights initialisation
  int threads = 1;     // intra-op threads; results are deterministic for a given count
  int64_t log_every = 50;
  TrainTokenizerOptions tokenizer;
  TrainModelOptions model;
  TrainOptimOptions optim;
  TrainDataOptions data;
};

struct TrainEval {
  int64_t step = 0;
  double loss = 0;      // mean training loss since the previous evaluation
  double accuracy = 0;  // greedy exact match on the test questions (classify: accuracy)
};

struct TrainResult {
  ModelSpec spec;
  TensorMap weights;
  std::string tokenizer_json;     // "" for an image model
  std::string preprocessor_json;  // an image model's preprocessor_config.json, else ""
  int64_t steps = 0;
  double final_loss = 0;     // mean over the last log_every steps
  double test_accuracy = 0;  // at the end
  int64_t test_correct = 0;
  int64_t test_total = 0;
  double seconds = 0;
  std::vector<TrainEval> history;
  std::vector<double> loss_curve;  // mean target loss of every log_every steps
};

// Progress lines go to `log` (nullptr = silent). Writes config.json, model.safetensors,
// tokenizer.json and train_log.json to options.output when it is set.
TrainResult train_toy_model(const TrainOptions& options, std::ostream* log);
// task: classify (train_toy_model calls it).
TrainResult train_toy_classifier(const TrainOptions& options, std::ostream* log);

// The fraction of samples (classification, Encoded::readout) whose class the model's argmax at
// the readout gives; batches right-padded.
double classification_accuracy(Model& model, const std::vector<Encoded>& samples,
                               int64_t batch_size = 64, int64_t* correct = nullptr);

// Greedy exact match: a sample counts when, fed its prompt, the model's argmax reproduces every
// target token in turn (teacher forcing gives the same inputs as greedy decoding until the first
// miss, so one forward pass per batch decides it). Returns the fraction correct.
double greedy_exact_match(Model& model, const std::vector<Encoded>& samples,
                          int64_t batch_size = 64, int64_t* correct = nullptr);

// The options as JSON (train_log.json records them).
std::string train_options_json(const TrainOptions& options);

}  // namespace xai
