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

// Writes config.json, model.safetensors, tokenizer.json and train_log.json (the options, the
// result and the evaluation history) to o.output, each file atomically; `say` logs a line.
void write_checkpoint(const TrainOptions& o, const TrainResult& result,
                      const std::function<void(const std::string&)>& say);

}  // namespace xai::train_detail
