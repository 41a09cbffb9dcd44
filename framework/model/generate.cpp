// See generate.h.
#include "framework/model/generate.h"

#include <algorithm>
#include <cmath>

#include "framework/common/error.h"
#include "framework/common/rng.h"
#include "framework/model/family.h"
#include "framework/text/chat.h"
#include "framework/text/encoded.h"
#include "framework/text/tokenizer.h"

namespace xai {
namespace {

// The next token from one row of logits (V): the argmax (the first of equal maxima, as torch's
// argmax), or a draw from softmax(logits / temperature) by the inverse of its cumulative sum.
int64_t next_token(const at::Tensor& logits, double temperature, SplitMix64& rng) {
  const at::Tensor row = logits.to(at::kCPU, at::kDouble).contiguous();
  const double* v = row.data_ptr<double>();
  const int64_t V = row.numel();
  if (temperature <= 0) return static_cast<int64_t>(std::max_element(v, v + V) - v);
  const double top = *std::max_element(v, v + V);
  std::vector<double> cdf(static_cast<size_t>(V));
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) {
    sum += std::exp((v[i] - top) / temperature);
    cdf[static_cast<size_t>(i)] = sum;
  }
  const double u = rng.unit() * sum;
  return static_cast<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
}

}  // namespace

Generation generate(Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& o) {
  const ModelSpec& spec = model.spec();
  XAI_CHECK(!spec.classifier() && is_causal(spec), "generate: ", spec.model_type,
            " is not a causal language model (HINT: a classifier is explained for a class)");
  XAI_CHECK(!prompt.empty(), "generate: the prompt has no token");
  XAI_CHECK(o.max_new_tokens >= 1, "generate: at least one new token (got ", o.max_new_tokens, ")");
  XAI_CHECK(o.temperature >= 0 && std::isfinite(o.temperature),
            "generate: temperature must be >= 0 (got ", o.temperature, ")");
  const int64_t P = static_cast<int64_t>(prompt.size());
  XAI_CHECK(P + o.max_new_tokens - 1 <= spec.max_positions, "generate: the prompt's ", P,
            " tokens and ", o.max_new_tokens, " new ones are more than the model's ",
            spec.max_positions, " positions (HINT: fewer new tokens)");
  at::NoGradGuard no_grad;
  const at::Device dev = model.device();
  SplitMix64 rng(o.seed);
  Generation g;
  KVCache cache;
  std::vector<int64_t> input = prompt;
  while (true) {
    ForwardRequest req;
    const int64_t n = static_cast<int64_t>(input.size());
    req.input_ids = at::tensor(input, at::kLong).view({1, n}).to(dev);
    req.logit_positions = at::full({1}, n - 1, at::kLong).to(dev);
    req.return_cache = true;
    if (!cache.empty()) req.past = &cache;
    ForwardResult r = model.forward(req);
    ++g.forward_passes;
    cache = std::move(r.cache);
    const int64_t id = next_token(r.logits[0][0], o.temperature, rng);
    g.ids.push_back(id);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), id) != o.stop_ids.end()) {
      g.stopped_by = "eos";
      break;
    }
    if (o.stop && o.stop(g.ids)) {
      g.stopped_by = "stop";
      break;
    }
    if (static_cast<int64_t>(g.ids.size()) >= o.max_new_tokens) {
      g.stopped_by = "length";
      break;
    }
    input = {id};
  }
  return g;
}

Generation generate_target(Model& model, const Tokenizer& tokenizer, Sample& sample,
                           GenerateOptions options, const std::string& stop) {
  if (model.spec().eos_token_id) options.stop_ids.push_back(*model.spec().eos_token_id);
  if (!stop.empty()) {
    options.stop = [&tokenizer, stop](const std::vector<int64_t>& ids) {
      return tokenizer.decode(ids).find(stop) != std::string::npos;
    };
  }
  apply_chat_template(sample, tokenizer);  // a conversation: its rendering (no second BOS)
  const Encoding prompt = tokenizer.encode(sample.prompt, /*add_special_tokens=*/!sample.chat);
  Generation g = generate(model, prompt.ids, options);
  sample.target_ids = g.ids;
  sample.target = tokenizer.decode(g.ids, /*skip_special_tokens=*/false);
  return g;
}

}  // namespace xai
