// Internal: what both trainers share (trainer.cpp for the toy decoders, classifier_trainer.cpp
// for the toy encoders): the learning-rate schedule, AdamW over a model's weights with gradient
// clipping, timing text, and writing the checkpoint folder with its train_log.json.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/train/trainer.h"

namespace xai::train_detail {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0);
std::string duration_text(double seconds);  // "3m07s", "1h02m"

// Linear warmup to optim.lr, then a cosine down to optim.min_lr at the last step.
double lr_at(const TrainOptimOptions& optim, int64_t step);

// The options every task checks (threads, steps, batch, schedule, evaluation, logging).
void check_common_options(const TrainOptions& o);

// AdamW over weights that require grad: matrices and embeddings with optim.weight_decay, vectors
// (norms, biases) without. step() clips the global gradient norm (optim.grad_clip > 0) and
// returns it as it was before clipping.
class AdamW {
 public:
  AdamW(const TrainOptimOptions& optim, const TensorMap& weights);
  ~AdamW();
  void zero_grad();
  void set_lr(double lr);
  double step();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The progress of a training run: one line every log_every steps (and at the last) with the
// window's mean loss (appended to result.loss_curve), the learning rate, the mean gradient norm,
// tokens per second when counted, and the time left; evaluations recorded in result.history and
// result.test_*; the closing line and result.steps / final_loss / seconds.
class TrainProgress {
 public:
  // `metric`: what the evaluation measures, for its lines ("exact match", "accuracy").
  TrainProgress(const TrainOptions& o, TrainResult& result,
                std::function<void(const std::string&)> say, std::string metric);
  // After optimizer step `step` (0-based): its loss, gradient norm, learning rate, and tokens
  // (0: no tokens per second shown).
  void step(int64_t step, double loss, double gnorm, double lr, int64_t tokens = 0);
  // Whether an evaluation is due after step `step` (every eval_every steps; the last step's is
  // finish()'s).
  bool eval_due(int64_t step) const;
  // An evaluation after `steps` steps: `correct` of `total` test samples.
  void evaluated(int64_t steps, int64_t correct, int64_t total);
  // The end of the run that started at t0 (call after the last evaluation).
  void finish(Clock::time_point t0);

 private:
  const TrainOptions& o_;
  TrainResult& result_;
  std::function<void(const std::string&)> say_;
  std::string metric_;
  Clock::time_point start_ = Clock::now();
  double loss_sum_ = 0, gnorm_sum_ = 0, eval_loss_sum_ = 0, last_loss_ = 0;
  int64_t loss_n_ = 0, eval_loss_n_ = 0, tokens_ = 0;
};

// Writes config.json, model.safetensors, tokenizer.json and train_log.json (the options, the
// result and the evaluation history) to o.output, each file atomically; `say` logs a line.
void write_checkpoint(const TrainOptions& o, const TrainResult& result,
                      const std::function<void(const std::string&)>& say);

}  // namespace xai::train_detail
