// The fixture checkpoints of tests/reference/make_fixtures.py as the model tests load them: the
// model through the normal loader, and its reference.safetensors (inputs and transformers'
// outputs).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "framework/model/model.h"
#include "framework/tensor_io/safetensors.h"
#include "tests/unit/test_util.h"

namespace xai::test {

struct ModelFixture {
  std::unique_ptr<Model> model;
  std::shared_ptr<const SafetensorsFile> ref;
  at::Tensor get(const std::string& name) const { return ref->get(name); }
};

inline ModelFixture load_fixture(const std::string& name) {
  ModelFixture f;
  f.model = load_model(fixture("models/" + name));
  f.ref = SafetensorsFile::open(fixture("models/" + name + "/reference.safetensors"));
  return f;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Every layer's kept attention probabilities against the fixture's "attn.<l>": one per layer, the
// same shape, within `tol` (max abs).
inline void expect_attention_matches(const ModelFixture& f, const ForwardResult& out, double tol) {
  ASSERT_EQ(static_cast<int64_t>(out.attn_probs.size()), f.model->spec().num_layers);
  for (size_t l = 0; l < out.attn_probs.size(); ++l) {
    const at::Tensor want = f.get("attn." + std::to_string(l));
    ASSERT_EQ(out.attn_probs[l].sizes(), want.sizes()) << "layer " << l;
    EXPECT_LT(max_abs_diff(out.attn_probs[l], want), tol) << "layer " << l;
  }
}

}  // namespace xai::test
