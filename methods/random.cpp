#include "methods/random.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "methods/saliency.h"

namespace xai {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a well-mixed 64-bit step; also used to fold inputs in.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void fold(uint64_t& state, uint64_t value) {
  state ^= value;
  state = splitmix64(state);
}

}  // namespace

Explanation RandomBaseline::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  check_gradient_sample(sample, "random");
  const int64_t T = sample.size(), n = sample.num_targets();
  uint64_t state = options_.seed;
  fold(state, static_cast<uint64_t>(T));
  for (int64_t id : sample.ids) fold(state, static_cast<uint64_t>(id));
  fold(state, static_cast<uint64_t>(sample.prompt_len));
  for (int64_t id : sample.target_ids) fold(state, static_cast<uint64_t>(id));

  at::Tensor scores = at::empty({n, T}, at::kFloat);  // (n, T)
  auto s = scores.accessor<float, 2>();
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t j = 0; j < T; ++j) {
      // The top 24 bits: a float in [0, 1) with every value exactly representable.
      s[t][j] = static_cast<float>(splitmix64(state) >> 40) * (1.0f / 16777216.0f);
    }
  }
  Explanation out;
  out.per_target = finish_scores(scores, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (ctx.progress) ctx.progress(1, 1);
  return out;
}

std::string RandomOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "random";
  j["seed"] = seed;
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

MemoryNeed RandomBaseline::memory_need(const MemoryQuery& q) const {
  (void)q;
  return {};  // no forward pass
}

}  // namespace xai
