// Samples and comparisons the explainer tests share: an explainer from YAML, an Encoded from token
// ids (every prompt position explained), the prompts stored in the Python reference fixtures, and
// the relative error the fixture checks use.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "framework/config/config.h"
#include "framework/tensor_io/safetensors.h"
#include "framework/text/encoded.h"
#include "methods/explainer.h"

namespace xai::test {

// An explainer from its YAML parameters ("{kappa: off}"), built as an experiment builds it (every
// key read, else the test fails on the unknown one).
inline std::unique_ptr<Explainer> build(const std::string& method, const std::string& params) {
  Config c = Config::parse(params, "test");
  auto e = make_explainer(method, c.root());
  c.finish_all();
  return e;
}

// ids (T) = prompt + targets[:-1] (teacher forcing), targets (n). Position k's byte span is
// [k, k + 1): no zero-width span at 0, so leading_bos() is false (no BOS).
inline Encoded make_sample(const at::Tensor& ids, int64_t prompt_len, const at::Tensor& targets) {
  Encoded e;
  at::Tensor i = ids.to(at::kLong).contiguous(), t = targets.to(at::kLong).contiguous();
  const int64_t T = i.numel();
  e.ids.assign(i.data_ptr<int64_t>(), i.data_ptr<int64_t>() + T);
  e.target_ids.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  e.prompt_len = prompt_len;
  e.explain_mask.assign(static_cast<size_t>(T), 0);
  for (int64_t k = 0; k < prompt_len; ++k) e.explain_mask[static_cast<size_t>(k)] = 1;
  for (int64_t k = 0; k < T; ++k) e.offsets.push_back(ByteSpan{k, k + 1});
  e.tokens.assign(static_cast<size_t>(T), "");
  return e;
}

// A classification sample: ids [CLS] ... [SEP], the class `label`, every position explained.
inline Encoded class_sample(const at::Tensor& ids, int64_t label) {
  Encoded e = make_sample(ids, ids.numel(), at::tensor(std::vector<int64_t>{label}));
  e.readout = 0;
  e.explain_mask.assign(e.ids.size(), 1);
  return e;
}

// An image sample: pixels (C, H, W), [CLS] and `patches` tokens, the class `label`.
inline Encoded image_sample(const at::Tensor& pixels, int64_t patches, int64_t label) {
  Encoded e = class_sample(at::arange(patches + 1, at::kLong), label);
  const at::Tensor p = pixels.to(at::kFloat).contiguous();
  e.pixels = std::make_shared<const std::vector<float>>(p.data_ptr<float>(),
                                                        p.data_ptr<float>() + p.numel());
  e.pixel_shape = p.sizes().vec();
  return e;
}

// Prompt p of a reference fixture file: tensors "p<p>.ids", "p<p>.prompt_len", "p<p>.targets".
inline Encoded fixture_sample(const SafetensorsFile& ref, int p) {
  const std::string k = "p" + std::to_string(p) + ".";
  return make_sample(ref.get(k + "ids"), ref.get(k + "prompt_len").item<int64_t>(),
                     ref.get(k + "targets"));
}

// max |got - want| / max |want|, in double.
inline double relative_error(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() / scale;
}

}  // namespace xai::test
