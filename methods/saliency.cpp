#include "methods/saliency.h"

#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <chrono>

#include "framework/common/error.h"

namespace xai {

const std::vector<std::string>& gradient_presets() {
  static const std::vector<std::string> kNames = {"none", "atman_paper", "captum_llm", "inseq"};
  return kNames;
}

void apply_gradient_preset(const std::string& preset, CommonOptions& common) {
  if (preset == "none") return;
  if (preset == "atman_paper") {
    common.target = TargetFunction::kLogit;  // AtMan's captum_helper: logits[:, -1], target id
  } else if (preset == "captum_llm") {
    common.target = TargetFunction::kLogProb;  // LLMGradientAttribution: log_softmax
    common.embedding = EmbeddingAggregation::kSum;
  } else if (preset == "inseq") {
    common.target = TargetFunction::kProb;  // inseq's default attributed_fn "probability"
    common.embedding = EmbeddingAggregation::kL2;
    common.normalize = Normalization::kL1;
  } else {
    throw Error("internal: unknown gradient preset '" + preset + "'");
  }
  common.preset = preset;
}

void check_gradient_sample(const Encoded& sample, const char* method) {
  const int64_t T = sample.size(), P = sample.prompt_len, n = sample.num_targets();
  XAI_CHECK(T > 0 && n > 0 && P >= 1 && P - 1 + n == T, method, ": malformed sample (T = ", T,
            ", prompt_len = ", P, ", targets = ", n, ")");
}

bool leading_bos(const Encoded& sample) {
  return sample.size() > 0 && !sample.offsets.empty() && sample.offsets[0].begin == 0 &&
         sample.offsets[0].end == 0;
}

void embedding_gradients(
    Model& model, const Encoded& sample, TargetFunction f,
    const std::function<void(int64_t, const at::Tensor&, const at::Tensor&)>& visit, Cost& cost,
    ExplainContext& ctx,
    const std::function<void(int64_t, const at::Tensor&, const at::Tensor&)>& visit_pixels) {
  const int64_t n = sample.num_targets();
  // The written-out attention runs only with grad mode on, whatever the caller's mode.
  at::AutoGradMode grad_mode(true);
  const at::Device dev = model.device();
  at::Tensor targets = sample_targets(sample, dev);  // (n), or (n, 2) with a contrast
  const SampleInput input = sample_input(model, sample);
  // An image with a pixel visitor: the pixels are the leaf and the embeddings a node after the
  // patch projection, so one backward gives both gradients.
  const bool pixels = sample.image() && visit_pixels;
  at::Tensor px;
  at::Tensor e;
  if (pixels) {
    px = input.pixels.detach().to(at::kFloat).requires_grad_(true);  // (1, C, H, W)
    e = model.embed_pixels(px);                                      // (1, T, D)
  } else {
    e = input.embeddings(model).detach().requires_grad_(true);  // (1, T, D)
  }
  ForwardRequest req;
  req.inputs_embeds = e;
  input.set_types(req);
  req.logit_positions = logit_positions(sample).to(dev);  // the LM head only there
  req.vocab_parallel = true;
  ForwardResult out = model.forward(req);
  at::Tensor values = target_function(out.logits[0], targets, f, model.vocab_slice());  // (n)
  const at::Tensor embeddings = e.detach()[0].to(at::kFloat);                           // (T, D)
  for (int64_t t = 0; t < n; ++t) {
    // autograd::grad reaches only e (and px): weights never accumulate gradients.
    if (pixels) {
      const auto g = torch::autograd::grad({values[t]}, {e, px}, {}, /*retain_graph=*/t + 1 < n);
      visit(t, embeddings, g[0][0].to(at::kFloat));             // (T, D)
      visit_pixels(t, px.detach()[0], g[1][0].to(at::kFloat));  // (C, H, W)
    } else {
      at::Tensor g = torch::autograd::grad({values[t]}, {e}, {}, /*retain_graph=*/t + 1 < n)[0];
      visit(t, embeddings, g[0].to(at::kFloat));  // (T, D)
    }
    if (ctx.progress) ctx.progress(t + 1, n);
  }
  cost.forward_passes += 1;
  cost.sequences += 1;
  cost.backward_passes += n;
}

SaliencyOptions::SaliencyOptions() { common.embedding = EmbeddingAggregation::kL2; }

std::string SaliencyOptions::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = "saliency";
  const std::string head = j.dump();
  return head.substr(0, head.size() - 1) + "," + common.json_fields() + "}";
}

Explanation Saliency::explain(Model& model, const Encoded& sample, ExplainContext& ctx) {
  const auto t_start = std::chrono::steady_clock::now();
  check_gradient_sample(sample, "saliency");
  Explanation out;
  const int64_t n = sample.num_targets();
  at::Tensor scores = at::zeros({n, sample.size()}, at::kFloat);  // (n, T)
  std::vector<at::Tensor> pixel_maps;
  embedding_gradients(
      model, sample, options_.common.target,
      [&](int64_t t, const at::Tensor&, const at::Tensor& g) {
        scores[t] = aggregate_embedding(g, options_.common.embedding).to(at::kCPU);
      },
      out.cost, ctx,
      [&](int64_t, const at::Tensor&, const at::Tensor& g) {
        pixel_maps.push_back(g.abs().sum(0).to(at::kCPU));  // (H, W)
      });
  if (!pixel_maps.empty()) out.extras[kPixelRelevance] = at::stack(pixel_maps);
  out.per_target = finish_scores(scores, sample, options_.common);
  out.relevance = aggregate_targets(out.per_target, options_.common.target_aggregation);
  out.cost.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return out;
}

// Measured on synthetic models of four shapes at T = 128, 512 and 2048 (xai plan --measure;
// docs/performance.md, "Memory planner").
MemoryNeed Saliency::memory_need(const MemoryQuery& q) const { return one_backward_need(q); }

}  // namespace xai
