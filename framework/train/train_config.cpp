// See train_config.h.
#include "framework/train/train_config.h"

#include "framework/common/error.h"

namespace xai {

TrainOptions read_train_options(const ConfigNode& root) {
  TrainOptions o;
  o.task = root.get_choice("task", o.task, {"next_token", "classify"});
  o.output = root.get_string("output", o.output);
  const int64_t seed = root.get_int("seed", 0);
  XAI_CHECK(seed >= 0, root.source(), ": seed must not be negative");
  o.seed = static_cast<uint64_t>(seed);
  o.threads = static_cast<int>(root.get_int("threads", o.threads));
  o.log_every = root.get_int("log_every", o.log_every);

  const ConfigNode data = root.child("data");
  const int64_t data_seed = data.get_int("seed", 0);
  XAI_CHECK(data_seed >= 0, data.source(), ": data.seed must not be negative");
  o.data.seed = static_cast<uint64_t>(data_seed);
  o.data.questions_per_context =
      static_cast<int>(data.get_int("questions_per_context", o.data.questions_per_context));
  o.data.single_attribute_share =
      data.get_double("single_attribute_share", o.data.single_attribute_share);
  o.data.restate_share = data.get_double("restate_share", o.data.restate_share);
  o.data.sentence_share = data.get_double("sentence_share", o.data.sentence_share);
  o.data.min_facts = static_cast<int>(data.get_int("min_facts", o.data.min_facts));
  o.data.max_facts = static_cast<int>(data.get_int("max_facts", o.data.max_facts));
  o.data.eval_samples = data.get_int("eval_samples", o.data.eval_samples);
  o.data.eval_every = data.get_int("eval_every", o.data.eval_every);

  const ConfigNode tok = root.child("tokenizer");
  o.tokenizer.from = tok.get_string("from", o.tokenizer.from);
  o.tokenizer.vocab_size = tok.get_int("vocab_size", o.tokenizer.vocab_size);
  o.tokenizer.corpus_samples = tok.get_int("corpus_samples", o.tokenizer.corpus_samples);
  o.tokenizer.add_prefix_space = tok.get_bool("add_prefix_space", o.tokenizer.add_prefix_space);

  const ConfigNode m = root.child("model");
  const bool classify = o.task == "classify";
  o.model.family = classify ? m.get_choice("family", "bert", {"bert", "roberta", "vit"})
                            : m.get_choice("family", o.model.family, {"gpt2", "llama"});
  o.model.layers = m.get_int("layers", o.model.layers);
  o.model.hidden = m.get_int("hidden", o.model.hidden);
  o.model.heads = m.get_int("heads", o.model.heads);
  o.model.kv_heads = m.get_int("kv_heads", o.model.kv_heads);
  o.model.head_dim = m.get_int("head_dim", o.model.head_dim);
  o.model.intermediate = m.get_int("intermediate", o.model.intermediate);
  o.model.max_positions = m.get_int("max_positions", o.model.max_positions);
  o.model.image_size = m.get_int("image_size", o.model.image_size);
  o.model.patch_size = m.get_int("patch_size", o.model.patch_size);
  o.model.tie_embeddings = m.get_bool("tie_embeddings", o.model.tie_embeddings);
  o.model.rope_theta = m.get_double("rope_theta", o.model.rope_theta);
  o.model.init_std = m.get_double("init_std", o.model.init_std);
  o.model.mimetic_qk = m.get_double("mimetic_qk", o.model.mimetic_qk);
  o.model.sinusoidal_positions = m.get_double("sinusoidal_positions", o.model.sinusoidal_positions);
  o.model.offset_heads = m.get_int_list("offset_heads", o.model.offset_heads);
  o.model.offset_layers = m.get_int("offset_layers", o.model.offset_layers);
  o.model.offset_sharpness = m.get_double("offset_sharpness", o.model.offset_sharpness);
  o.model.offset_pinned = m.get_bool("offset_pinned", o.model.offset_pinned);

  const ConfigNode t = root.child("train");
  o.optim.steps = t.get_int("steps", o.optim.steps);
  o.optim.batch_size = t.get_int("batch_size", o.optim.batch_size);
  o.optim.warmup_steps = t.get_int("warmup_steps", o.optim.warmup_steps);
  o.optim.lr = t.get_double("lr", o.optim.lr);
  o.optim.min_lr = t.get_double("min_lr", o.optim.min_lr);
  o.optim.weight_decay = t.get_double("weight_decay", o.optim.weight_decay);
  o.optim.beta1 = t.get_double("beta1", o.optim.beta1);
  o.optim.beta2 = t.get_double("beta2", o.optim.beta2);
  o.optim.eps = t.get_double("eps", o.optim.eps);
  o.optim.grad_clip = t.get_double("grad_clip", o.optim.grad_clip);
  o.optim.context_loss_weight = t.get_double("context_loss_weight", o.optim.context_loss_weight);
  return o;
}

}  // namespace xai
