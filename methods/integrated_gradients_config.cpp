// Integrated gradients' YAML parameters (kept apart so the method links without the config code).
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "methods/integrated_gradients.h"
#include "methods/saliency.h"

namespace xai {
IntegratedGradientsOptions IntegratedGradientsOptions::from_config(const ConfigNode& node) {
  IntegratedGradientsOptions o;
  // The preset first, then the individual keys on top.
  const std::string preset = node.get_choice("preset", "none", gradient_presets());
  apply_gradient_preset(preset, o.common);
  if (preset == "atman_paper") {  // AtMan's captum_helper: IG with captum's defaults but 10 steps
    o.steps = 10;
    o.baseline = Baseline::kZero;
    o.quadrature = Quadrature::kGaussLegendre;
  } else if (preset == "captum_llm") {  // LLMGradientAttribution + LayerIntegratedGradients
    o.baseline = Baseline::kToken;
    o.baseline_token_id = 0;
    o.steps = 50;
    o.quadrature = Quadrature::kGaussLegendre;
  } else if (preset == "inseq") {  // inseq's integrated_gradients: captum defaults, UNK ids
    o.baseline = Baseline::kUnk;
    o.steps = 50;
    o.quadrature = Quadrature::kGaussLegendre;
  }
  o.steps = node.get_int("steps", o.steps);
  const std::string q = node.get_choice(
      "quadrature",
      o.quadrature == Quadrature::kGaussLegendre   ? "gausslegendre"
      : o.quadrature == Quadrature::kRiemannLeft   ? "riemann_left"
      : o.quadrature == Quadrature::kRiemannRight  ? "riemann_right"
      : o.quadrature == Quadrature::kRiemannMiddle ? "riemann_middle"
                                                   : "riemann_trapezoid",
      {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"});
  o.quadrature = q == "gausslegendre"    ? Quadrature::kGaussLegendre
                 : q == "riemann_left"   ? Quadrature::kRiemannLeft
                 : q == "riemann_right"  ? Quadrature::kRiemannRight
                 : q == "riemann_middle" ? Quadrature::kRiemannMiddle
                                         : Quadrature::kRiemannTrapezoid;
  const std::string b = node.get_choice("baseline",
                                        o.baseline == Baseline::kAuto    ? "auto"
                                        : o.baseline == Baseline::kZero  ? "zero"
                                        : o.baseline == Baseline::kToken ? "token"
                                                                         : "unk",
                                        {"auto", "zero", "token", "unk"});
  o.baseline = b == "auto"    ? Baseline::kAuto
               : b == "zero"  ? Baseline::kZero
               : b == "token" ? Baseline::kToken
                              : Baseline::kUnk;
  if (node.has("baseline_token_id")) {
    XAI_CHECK(o.baseline != Baseline::kZero, node.where("baseline_token_id"),
              "the zero baseline takes no token id (HINT: set baseline: "
              "token or unk, or drop baseline_token_id)");
    o.baseline_token_id = node.get_int("baseline_token_id", 0);
  } else if ((o.baseline == Baseline::kToken || o.baseline == Baseline::kAuto) &&
             !o.baseline_token_id) {
    o.baseline_token_id = 0;  // captum LLM's TextTokenInput(baselines=0)
  }
  o.baseline_keep_bos = node.get_bool("baseline_keep_bos", o.baseline_keep_bos);
  o.batch_size_given = node.has("batch_size");
  o.batch_size = node.get_int("batch_size", o.batch_size);
  o.delta_tolerance = node.get_double("delta_tolerance", o.delta_tolerance);
  o.common.read(node);
  node.finish();
  return o;
}

}  // namespace xai
