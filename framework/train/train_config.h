// The `xai train` YAML (configs/train/*.yaml) read into TrainOptions, strictly.
#pragma once

#include "framework/config/config.h"
#include "framework/train/trainer.h"

namespace xai {

// Reads output, seed, threads, log_every and the mappings data, tokenizer, model and train.
// Missing keys keep the TrainOptions defaults; call Config::finish_all() afterwards so a
// misspelt key is an error.
TrainOptions read_train_options(const ConfigNode& root);

}  // namespace xai
