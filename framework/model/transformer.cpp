#include "framework/model/transformer.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "framework/common/error.h"
#include "framework/common/mapped_file.h"
#include "framework/model/arch_registry.h"
#include "framework/model/attention_cpu.h"
#include "framework/model/block_attention.h"

namespace xai {
namespace {

// Added to the logits of keys a query may not see. Finite, so a row with no visible key (a padding
// query) gives a uniform row instead of NaN.
constexpr float kMasked = -1e30f;

// The lowest of logit_positions (P) or (B, P), after checking they are positions of the input.
int64_t check_logit_positions(const at::Tensor& positions, int64_t B, int64_t T) {
  XAI_CHECK(positions.dim() == 1 || positions.dim() == 2,
            "forward: logit_positions must be (P) or (B, P)");
  XAI_CHECK(positions.dim() == 1 || positions.size(0) == B, "forward: logit_positions has ",
            positions.size(0), " rows for a batch of ", B);
  if (positions.numel() == 0) return 0;
  const int64_t lo = positions.min().item<int64_t>(), hi = positions.max().item<int64_t>();
  XAI_CHECK(lo >= 0 && hi < T, "forward: logit_positions [", lo, ", ", hi, "] outside the input's ",
            T, " positions");
  return lo;
}

// h (B, T - rows_from, D) holds rows rows_from .. T - 1; positions (P) or (B, P), checked by
// check_logit_positions -> (B, P, D).
// NaN or Inf logits come from broken weights (or an input that overflows them). They must stop
// the sample, never reach a relevance map as numbers. One sum is the cheap test: a NaN or Inf
// anywhere makes it non-finite (finite logits are far too small to overflow it); the count and
// the first position are only worked out for the message.
// `force`: the caller found the sum non-finite already (under tensor parallelism, over the group),
// so a part that is finite on this rank still stops it, with the group's reason.
void check_finite_logits(const at::Tensor& logits, bool force = false) {  // (B, P, V) float
  at::NoGradGuard no_grad;
  const at::Tensor l = logits.detach();
  if (!force && std::isfinite(l.sum().item<double>())) return;
  const at::Tensor bad = at::isfinite(l).logical_not();
  const int64_t nan = at::isnan(l).sum().item<int64_t>();
  const int64_t count = bad.sum().item<int64_t>();
  if (count == 0 && force) {
    throw Error(
        "the model's logits are not finite on another rank of its tensor-parallel group: "
        "its weights are damaged or this input overflows them");
  }
  if (count == 0) return;  // a sum that overflowed on huge but finite logits
  const at::Tensor where = bad.any(-1).nonzero();  // (k, 2): (batch, position) pairs
  throw Error(str_cat("the model's logits are not finite (", nan, " NaN and ", count - nan,
                      " infinite of ", l.numel(), " values; first at batch row ",
                      where[0][0].item<int64_t>(), ", logit row ", where[0][1].item<int64_t>(),
                      "): its weights are damaged or this input overflows them (HINT: when every "
                      "prompt fails, compare the checkpoint with its source)"));
}

at::Tensor select_positions(const at::Tensor& h, const at::Tensor& positions, int64_t rows_from) {
  at::Tensor pos = positions.to(h.device(), at::kLong);
  if (rows_from > 0) pos = pos - rows_from;
  if (pos.dim() == 1) return h.index_select(1, pos);
  return h.gather(1, pos.unsqueeze(-1).expand({pos.size(0), pos.size(1), h.size(2)}));
}
}  // namespace

bool AttentionControl::applies_to(int layer) const {
  if (layers.empty()) return true;
  for (int l : layers)
    if (l == layer) return true;
  return false;
}

at::Tensor activation(const std::string& name, const at::Tensor& x) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return at::gelu(x, "tanh");
  }
  if (name == "gelu") return at::gelu(x);
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "relu") return at::relu(x);
  if (name == "tanh") return at::tanh(x);  // classifier heads (not a block activation)
  throw Error(str_cat("activation '", name, "' is not supported"));
}

void check_activation_supported(const ModelSpec& spec) {
  static const char* kKnown[] = {
      "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "silu", "swish", "relu"};
  for (const char* k : kKnown)
    if (spec.activation == k) return;
  throw Error(str_cat(spec.source, ": activation '", spec.activation,
                      "' is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast, "
                      "gelu, silu, relu)"));
}

GradientSwitch::GradientSwitch() : flag_(at::ones({}, at::kLong)) {}
void GradientSwitch::set_relevance(bool on, bool again) { flag_.fill_(on ? (again ? 2 : 1) : 0); }
bool GradientSwitch::relevance() const { return flag_.item<int64_t>() != 0; }

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool lrp(const ForwardState& st) { return st.rules != GradientRules::kStandard; }

// Whether the backward running now follows the rules: always without a switch.
bool relevance_now(const at::Tensor& flag) { return !flag.defined() || flag.item<int64_t>() != 0; }
// Whether another relevance pass over the graph follows this one (GradientSwitch's `again`).
bool relevance_again(const at::Tensor& flag) { return flag.defined() && flag.item<int64_t>() == 2; }

// The switch's flag for a node to read in its backward; without a switch, one that is always on
// (a custom Function's tensor inputs must be defined).
at::Tensor switch_flag(const ForwardState& st) {
  return st.rule_flag.defined() ? st.rule_flag : at::ones({}, at::kLong);
}

// The forward's `value` itself (the output shares its storage: no copy, so a tensor that autograd
// saves anyway, such as the softmax's probabilities, is not held twice). In the backward the
// gradient goes to `carrier` while the switch is on (always, without a switch) and to `value`
// while it is off; the other gets none (an undefined gradient, so autograd skips the whole branch
// behind it).
struct ForwardOfFn : public torch::autograd::Function<ForwardOfFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& value,
                            const at::Tensor& carrier, const at::Tensor& flag) {
    (void)carrier;  // only its graph is used, in the backward
    ctx->saved_data["flag"] = flag;
    return value;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const bool rules = relevance_now(ctx->saved_data["flag"].toTensor());
    return {rules ? at::Tensor() : grads[0], rules ? grads[0] : at::Tensor(), at::Tensor()};
  }
};

// Chefer's renormalised Add (shared/reference/baselines.md section 4.1) as a modified gradient:
// with g the incoming gradient, each branch's z-rule share a = sum(x * g), b = sum(branch * g)
// (per batch row) is rescaled so that the branches carry |a| / (|a| + |b|) and |b| / (|a| + |b|)
// of the total a + b. Plain gradient while the switch (if any) is off.
struct ResidualFn : public torch::autograd::Function<ResidualFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& branch,
                            const at::Tensor& flag) {
    ctx->save_for_backward({x, branch});
    ctx->saved_data["flag"] = flag;
    return x + branch;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor& g = grads[0];  // (B, T, D)
    if (!relevance_now(ctx->saved_data["flag"].toTensor())) return {g, g, at::Tensor()};
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> dims = {1, 2};
    at::Tensor a = (saved[0] * g).sum(dims, true, at::kDouble);  // (B, 1, 1)
    at::Tensor b = (saved[1] * g).sum(dims, true, at::kDouble);
    at::Tensor total = a + b, mass = a.abs() + b.abs();
    auto share = [&](const at::Tensor& part) {  // |part| / mass * total / part, 0 where undefined
      at::Tensor den = mass * part;
      at::Tensor f = at::where(den.ne(0), part.abs() * total / den.masked_fill(den.eq(0), 1.0),
                               at::zeros_like(den));
      return (g * f.to(g.scalar_type())).contiguous();
    };
    return {share(a), share(b), at::Tensor()};
  }
};

// Whether a gradient pass runs attention blockwise (block_attention, the default) or written out.
// Measured on GPT-2-small shapes (2 threads): the blockwise path is as fast or faster (IG 20
// steps, T = 256, batch 4: 52 s vs 64 s) and stores no (B, H, T, S) maps (784 vs 917 MB).
// XAI_ATTENTION_GRAD=written_out forces the written-out path (comparisons); the numbers are the
// same.
bool blockwise_attention() {
  const char* force = std::getenv("XAI_ATTENTION_GRAD");
  return force == nullptr || std::string(force) != "written_out";
}

// Forward exactly `value` (the same storage), backward through `carrier`. Every rule below changes
// gradients this way, never a forward value. Under a GradientSwitch the backward goes through
// `carrier` while the switch is on and through `value` itself while it is off.
at::Tensor forward_of(const ForwardState& st, const at::Tensor& value, const at::Tensor& carrier) {
  return ForwardOfFn::apply(value, carrier, switch_flag(st));
}

// The carrier a rule's custom Function returns: forward_of never reads its value, so it is a
// zero-storage tensor of `like`'s shape (the gradient's shape is all autograd checks).
at::Tensor unread_carrier(const at::Tensor& like) {
  return at::zeros({}, like.options()).expand(like.sizes());
}

// value / z with z moved 1e-9 away from 0 on its own side: the rules' scale, never a division by 0.
at::Tensor ratio_to(const at::Tensor& value, const at::Tensor& z) {
  const at::Tensor safe =
      z + at::where(z.ge(0), at::full({}, 1e-9f, z.options()), at::full({}, -1e-9f, z.options()));
  return value / safe;
}

// Forward value `value`, gradient that of `surrogate` scaled by value / surrogate: the standard way
// to give an op another backward (relevance rules as modified gradients).
at::Tensor with_gradient_of(const ForwardState& st, const at::Tensor& value,
                            const at::Tensor& surrogate) {
  return forward_of(st, value, surrogate * ratio_to(value, surrogate).detach());
}

// Chefer's z+ rule for a linear layer, y = x W (+ b): the carrier whose gradient
// with_gradient_of(y, z) would give for z = x+ W+ + x- W- (no bias), that is dx = [x >= 0] (g s)
// W+^T + [x <= 0] (g s) W-^T with s = y / z. Written out, the graph would keep W+ and W- (twice
// the layer's weights, the LM head's included), x+ and x- and s for every call; this keeps x and
// y (which autograd holds anyway) and builds z, s and one signed part of W at a time in its
// backward, over the output columns that get a gradient only: the LM head's one-hot gradient
// needs one column of W, not the (V, D) parts. When the switch says another relevance pass
// follows (several targets), it keeps s for it. Its own value is never read (unread_carrier).
struct ZPlusLinearFn : public torch::autograd::Function<ZPlusLinearFn> {
  // `group`: a row-parallel layer's tensor-parallel group (group_handle), whose ranks each hold
  // part of the inputs: z is summed over it. 0 otherwise.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& y, bool in_out, const at::Tensor& flag,
                            int64_t group) {
    ctx->save_for_backward({x, w, y});
    ctx->saved_data["in_out"] = in_out;
    ctx->saved_data["flag"] = flag;
    ctx->saved_data["group"] = group;
    ctx->set_materialize_grads(false);  // the plain pass (switch off) sends none: skip the work
    return unread_carrier(y);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list none(6);
    if (!grads[0].defined()) return none;
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &y = saved[2];
    const bool in_out = ctx->saved_data["in_out"].toBool();
    at::Tensor g = grads[0], ws = w, ys = y;  // (rows, out), W, y over the columns that count
    const at::Tensor cols = g.ne(0).any(0).nonzero().view({-1});
    const bool sparse = cols.numel() * 4 < y.size(1);
    if (sparse) {
      g = g.index_select(1, cols);
      ws = w.index_select(in_out ? 1 : 0, cols);
      ys = y.index_select(1, cols);
    }
    auto part = [&](const at::Tensor& xs, const at::Tensor& p) {  // xs W_part over those columns
      return in_out ? at::mm(xs, p) : at::linear(xs, p);
    };
    at::Tensor s;  // y / z
    if (!sparse && ctx->saved_data.count("s") != 0) {
      s = ctx->saved_data["s"].toTensor();
    } else {
      at::Tensor z = part(x.clamp_min(0), ws.clamp_min(0));
      z.add_(part(x.clamp_max(0), ws.clamp_max(0)));
      if (const TensorGroup* g = group_from_handle(ctx->saved_data["group"].toInt())) z = g->sum(z);
      s = ratio_to(ys, z);
    }
    if (!sparse && relevance_again(ctx->saved_data["flag"].toTensor())) {
      ctx->saved_data["s"] = s;
    } else {
      ctx->saved_data.erase("s");
    }
    const at::Tensor gz = g * s;
    auto through = [&](const at::Tensor& p) {  // gz dz/dx through one signed part of W
      return in_out ? at::mm(gz, p.t()) : at::mm(gz, p);
    };
    at::Tensor dx = through(ws.clamp_min(0)).mul_(x.ge(0));
    dx.add_(through(ws.clamp_max(0)).mul_(x.le(0)));
    variable_list out = none;
    out[0] = dx;
    return out;
  }
};

// The identity rule's carrier for an activation z = phi(u): its backward gives u the gradient
// g phi(u) / u (relevance passes unchanged, u grad_u = z grad_z). Written out, u * (z / u) keeps
// the ratio, one more tensor of the MLP's width per layer; this keeps u (which autograd holds
// anyway) and computes phi(u) again in the backward. Its own value is never read (unread_carrier).
struct IdentityRuleActFn : public torch::autograd::Function<IdentityRuleActFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const std::string& name) {
    ctx->save_for_backward({u});
    ctx->saved_data["activation"] = name;
    ctx->set_materialize_grads(false);  // the plain pass (switch off) sends none: skip the work
    return unread_carrier(u);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    const at::Tensor u = ctx->get_saved_variables()[0];
    const at::Tensor z = activation(ctx->saved_data["activation"].toStringRef(), u);
    return {grads[0] * (z / (u + 1e-10)), at::Tensor()};
  }
};

// The identity rule's carrier through the softmax, probs = softmax(logits) with logits = qs k^T
// (+ mask): its backward gives the logits the gradient g probs / logits at the visible keys and 0
// at the masked ones (relevance passes from the probabilities to the scores unchanged). Written
// out, the ratio probs / logits is a (B, H, T, S) tensor per layer; this keeps qs, k (which the
// scores' own matmul holds anyway) and the probabilities (which the softmax holds) and computes
// the scores again in its backward, one q k^T per layer and relevance pass. `shape` is
// (B, H, T, S), the scores' view of the (B, Hkv, G*T, S) matmul. Its value is never read.
struct IdentityRuleSoftmaxFn : public torch::autograd::Function<IdentityRuleSoftmaxFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& probs,
                            const at::Tensor& qs, const at::Tensor& k, const at::Tensor& mask,
                            const at::Tensor& allowed) {
    ctx->save_for_backward({probs, qs, k});
    ctx->saved_data["mask"] = mask;
    ctx->saved_data["allowed"] = allowed;
    ctx->saved_data["shape"] = logits.sizes().vec();
    ctx->set_materialize_grads(false);  // the plain pass (switch off) sends none: skip the work
    return unread_carrier(logits);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list out(6);
    if (!grads[0].defined()) return out;
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &probs = saved[0], &qs = saved[1], &k = saved[2];
    const at::Tensor logits = at::matmul(qs, k.transpose(2, 3))
                                  .view(ctx->saved_data["shape"].toIntVector())
                                  .to(at::kFloat)
                                  .add_(ctx->saved_data["mask"].toTensor());
    const at::Tensor masked = ctx->saved_data["allowed"].toTensor().logical_not();
    const at::Tensor z = logits.masked_fill_(masked, 0);
    out[0] = (grads[0] * ratio_to(probs.to(at::kFloat), z)).masked_fill_(masked, 0);
    return out;
  }
};

// Forward x, gradient scaled by `keep` (q, k, v in AttnLRP).
at::Tensor scale_gradient(const ForwardState& st, const at::Tensor& x, double keep) {
  return forward_of(st, x, x * keep);
}

}  // namespace

at::Tensor TransformerModel::linear(const ForwardState& st, const at::Tensor& x,
                                    const at::Tensor& w, const at::Tensor& b, bool in_out,
                                    const TensorGroup* summed) {
  const int64_t B = x.size(0), T = x.size(1);
  at::Tensor x2 = x.reshape({B * T, x.size(2)});
  at::Tensor y;  // (B*T, out)
  if (summed == nullptr) {
    y = in_out ? (b.defined() ? at::addmm(b, x2, w) : at::mm(x2, w)) : at::linear(x2, w, b);
  } else {
    y = sum_over_group(*summed, in_out ? at::mm(x2, w) : at::linear(x2, w));
    if (b.defined()) y = y + b;
  }
  if (st.rules == GradientRules::kLrpAlphaBeta) {
    // z+ rule: Z = x+ W+ + x- W- (no bias) carries the gradient (ZPlusLinearFn).
    y = forward_of(
        st, y,
        ZPlusLinearFn::apply(x2, w, y.detach(), in_out, switch_flag(st), group_handle(summed)));
  }
  return y.view({B, T, y.size(1)});
}

at::Tensor TransformerModel::layer_norm(const ForwardState& st, const at::Tensor& x,
                                        const at::Tensor& w, const at::Tensor& b, double eps) {
  if (!lrp(st)) return at::layer_norm(x, {x.size(-1)}, w, b, eps);
  if (st.rules == GradientRules::kLrpAlphaBeta) {
    // Chefer's identity rule: relevance passes elementwise unchanged (x * grad_x = y * grad_y).
    return with_gradient_of(st, at::layer_norm(x, {x.size(-1)}, w, b, eps), x);
  }
  at::Tensor centered = x - x.mean(-1, true);
  at::Tensor rstd = at::rsqrt(centered.pow(2).mean(-1, true) + eps).detach();
  return centered * rstd * w + b;
}

at::Tensor TransformerModel::rms_norm(const ForwardState& st, const at::Tensor& x,
                                      const at::Tensor& w, double eps) {
  // Hugging Face LlamaRMSNorm: normalise in float32, then scale in the input dtype.
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor rstd = at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (!lrp(st)) return w * (xf * rstd).to(x.scalar_type());
  at::Tensor held = w * (xf * rstd.detach()).to(x.scalar_type());  // the identity rule
  if (!st.rule_flag.defined()) return held;
  return forward_of(st, w * (xf * rstd).to(x.scalar_type()), held);
}

at::Tensor TransformerModel::act(const ForwardState& st, const at::Tensor& u) const {
  return act(st, u, spec_.activation);
}

at::Tensor TransformerModel::act(const ForwardState& st, const at::Tensor& u,
                                 const std::string& name) {
  at::Tensor z = activation(name, u);
  if (!lrp(st)) return z;
  return forward_of(st, z, IdentityRuleActFn::apply(u, name));  // grad * phi(u) / u
}

at::Tensor TransformerModel::head(const at::Tensor& h, ForwardState& st) {
  return linear(st, h, globals_.head, globals_.head_bias, /*in_out=*/false);
}

at::Tensor TransformerModel::gated(const ForwardState& st, const at::Tensor& g,
                                   const at::Tensor& u) {
  if (!lrp(st)) return g * u;
  if (st.rules == GradientRules::kCpLrp) return g.detach() * u;  // no relevance into the gate
  at::Tensor halves = 0.5 * (g * u.detach() + g.detach() * u);   // uniform rule: half to each
  if (!st.rule_flag.defined()) return halves;
  return forward_of(st, g * u, halves);
}

at::Tensor TransformerModel::residual(const ForwardState& st, const at::Tensor& x,
                                      const at::Tensor& branch) {
  if (st.rules != GradientRules::kLrpAlphaBeta) return x + branch;
  return ResidualFn::apply(x, branch, switch_flag(st));
}

at::Tensor TransformerModel::add_mlp(const ForwardState& st, const at::Tensor& y,
                                     const at::Tensor& h,
                                     const std::function<at::Tensor(const at::Tensor&)>& mlp) {
  constexpr int64_t kChunk = 256;  // rows: a (256, 3072) fp32 intermediate is 3 MB
  const int64_t rows = h.size(0) * h.size(1), D = h.size(2);
  if (at::GradMode::is_enabled() || rows <= kChunk) return residual(st, y, mlp(h));
  at::Tensor h2 = h.reshape({1, rows, D});
  at::Tensor out = y.contiguous().view({1, rows, y.size(2)});
  for (int64_t r = 0; r < rows; r += kChunk) {
    const int64_t n = std::min(kChunk, rows - r);
    out.narrow(1, r, n).add_(mlp(h2.narrow(1, r, n)));
  }
  return out.view(y.sizes());
}

TransformerModel::TransformerModel(ModelSpec spec, const LoadOptions& options, at::ScalarType dtype)
    : spec_(std::move(spec)), device_(options.device), dtype_(dtype), group_(options.tensor_group) {
  split_ = TensorSplit::make(spec_, group_ ? group_->rank() : 0, group_ ? group_->size() : 1,
                             "parallel.tensor");
  if (!split_.split()) group_ = nullptr;
}

at::Tensor TransformerModel::weight(const WeightFn& source, const std::string& name, int layer,
                                    Dim rows, Dim cols) {
  const at::Tensor whole = source(name);
  at::Tensor t = split_.slice(whole, rows, cols);
  const bool part = t.numel() < whole.numel();
  // A part that is not one run of the file (columns of a row-major matrix) is copied; so is a part
  // of a tensor in memory (a storage with an allocator, unlike a mapped checkpoint's), so that the
  // whole one can be freed.
  if (!t.is_contiguous() || (part && whole.storage().allocator() != nullptr)) {
    t = t.clone(at::MemoryFormat::Contiguous);
  }
  if (t.device() == device_ && t.scalar_type() == dtype_) {  // zero-copy
    if (layer >= 0 && device_.is_cpu() && t.is_alias_of(whole)) {
      if (layer_weights_.size() <= static_cast<size_t>(layer)) layer_weights_.resize(layer + 1);
      layer_weights_[layer].push_back(t);
    }
  } else {
    t = t.to(device_, dtype_);
  }
  // A part copied out of a mapped checkpoint: the pages the copy read hold the other ranks' parts
  // too, so this rank lets go of them (a no-op for memory that is not a mapped file).
  if (part && !t.is_alias_of(whole)) MappedFile::release(whole.data_ptr(), whole.nbytes());
  return t;
}

ProbsGradSink TransformerModel::probs_grad_sink(const AttentionControl& ctl, int layer,
                                                int64_t r0) const {
  return [f = ctl.probs_grad, layer, r0, g = group_](int64_t row0, const at::Tensor& p,
                                                     const at::Tensor& dp) {
    if (g == nullptr) return f(layer, r0 + row0, p, dp);
    f(layer, r0 + row0, g->gather(p, 1), g->gather(dp, 1));  // every head's
  };
}

VocabSlice TransformerModel::vocab_slice() const {
  // A classifier's head (its classes) is whole on every rank: its logits are never split.
  if (!group_ || spec_.classifier()) return {nullptr, 0, spec_.output_size()};
  const SplitRange r = split_.vocab_rows();
  return {group_, r.begin, r.size()};
}

at::Tensor TransformerModel::enter(const at::Tensor& h) const {
  return group_ ? enter_group(*group_, h) : h;
}

at::Tensor TransformerModel::row_linear(const ForwardState& st, const at::Tensor& x,
                                        const at::Tensor& w, const at::Tensor& b,
                                        bool in_out) const {
  return linear(st, x, w, b, in_out, group_);
}

size_t TransformerModel::release_layer(int layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= layer_weights_.size()) return 0;
  size_t released = 0;
  for (const at::Tensor& t : layer_weights_[layer]) {
    released += MappedFile::release(t.data_ptr(), t.numel() * t.element_size());
  }
  return released;
}

at::Tensor Model::embed_pixels(const at::Tensor&) {
  throw Error(str_cat(spec().model_type, " reads token ids, not pixels"));
}

at::Tensor TransformerModel::embed(const at::Tensor& ids) {
  XAI_CHECK(ids.dim() == 2, "embed: ids must be (B, T), got ", ids.dim(), " dimensions");
  XAI_CHECK(ids.scalar_type() == at::kLong || ids.scalar_type() == at::kInt,
            "embed: ids must be integers");
  at::Tensor i = ids.to(device_, at::kLong);
  if (i.numel() > 0) {
    const int64_t lo = i.min().item<int64_t>(), hi = i.max().item<int64_t>();
    XAI_CHECK(lo >= 0 && hi < spec_.vocab_size, "input ids [", lo, ", ", hi,
              "] fall outside the vocabulary of ", spec_.vocab_size,
              " (HINT: the tokenizer does not belong to this model)");
  }
  if (!group_) return at::embedding(globals_.embed, i);  // (B, T, D)
  // Vocabulary-parallel: this rank looks up its rows, zeros elsewhere, summed over the group.
  const SplitRange r = split_.vocab_rows();
  const at::Tensor mine = i.ge(r.begin).logical_and(i.lt(r.end));
  at::Tensor e = at::embedding(globals_.embed, ((i - r.begin) * mine).clamp_max(r.size() - 1));
  return sum_over_group(*group_, e * mine.unsqueeze(-1).to(e.scalar_type()));
}

ForwardResult TransformerModel::forward(const ForwardRequest& req, const AttentionControl& ctl) {
  ForwardResult result;
  at::Tensor x;  // (B, T, D)
  const int start = req.start_layer;
  if (req.hidden_states.defined()) {
    XAI_CHECK(!req.input_ids.defined() && !req.inputs_embeds.defined(),
              "forward: give hidden_states or input_ids or inputs_embeds, not several");
    XAI_CHECK(start >= 0 && start < spec_.num_layers, "forward: start_layer ", start,
              " is not a layer of this model (it has ", spec_.num_layers, ")");
    XAI_CHECK(req.hidden_states.dim() == 3 && req.hidden_states.size(2) == spec_.hidden_size,
              "forward: hidden_states must be (B, T, ", spec_.hidden_size, ")");
    x = req.hidden_states.to(device_, dtype_);
  } else if (req.pixel_values.defined()) {
    XAI_CHECK(!req.input_ids.defined() && !req.inputs_embeds.defined(),
              "forward: give pixel_values or input_ids or inputs_embeds, not several");
    x = embed_pixels(req.pixel_values);
  } else if (req.inputs_embeds.defined()) {
    XAI_CHECK(!req.input_ids.defined(), "forward: give input_ids or inputs_embeds, not both");
    XAI_CHECK(req.inputs_embeds.dim() == 3 && req.inputs_embeds.size(2) == spec_.hidden_size,
              "forward: inputs_embeds must be (B, T, ", spec_.hidden_size, ")");
    x = req.inputs_embeds.to(device_, dtype_);
  } else {
    XAI_CHECK(req.input_ids.defined(), "forward: input_ids or inputs_embeds is required");
    x = embed(req.input_ids);
  }

  XAI_CHECK(start == 0 || req.hidden_states.defined(), "forward: start_layer ", start,
            " needs hidden_states (the residual stream entering that layer)");
  const int end = req.end_layer < 0 ? static_cast<int>(spec_.num_layers) : req.end_layer;
  if (req.end_layer >= 0) {
    XAI_CHECK(end >= start && end <= spec_.num_layers, "forward: end_layer ", end,
              " is not in [start_layer, layers] = [", start, ", ", spec_.num_layers, "]");
    XAI_CHECK(!req.logit_positions.defined(),
              "forward: end_layer gives hidden states, not logits: leave logit_positions out");
  }
  XAI_CHECK(req.rule_switch == nullptr || req.rules == GradientRules::kLrpAlphaBeta,
            "forward: a GradientSwitch works with GradientRules::kLrpAlphaBeta only");

  ForwardState st;
  st.control = &ctl;
  if (req.rule_switch != nullptr) st.rule_flag = req.rule_switch->flag();
  st.result = &result;
  st.return_cache = req.return_cache;
  st.rules = req.rules;
  st.B = x.size(0);
  st.T = x.size(1);
  XAI_CHECK(st.T > 0, "forward: empty input (T = 0)");
  if (req.past != nullptr && !req.past->empty()) {
    XAI_CHECK(is_causal(spec_), "forward: a cached prefix needs causal attention; ",
              spec_.model_type, " is an encoder (its earlier positions see the later ones)");
    const KVCache& p = *req.past;
    XAI_CHECK(
        static_cast<int64_t>(p.keys.size()) == spec_.num_layers && p.values.size() == p.keys.size(),
        "forward: past cache has ", p.keys.size(), " layers, the model ", spec_.num_layers);
    XAI_CHECK(p.batch() == 1 || p.batch() == st.B, "forward: past cache batch ", p.batch(),
              " is neither 1 nor the input batch ", st.B);
    st.past = &p;
    st.past_len = p.length();
  }
  st.S = st.past_len + st.T;
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device_);

  // Absolute positions, counted over real tokens.
  at::Tensor key_valid;  // (B, S) bool
  if (req.attention_mask.defined()) {
    XAI_CHECK(req.attention_mask.dim() == 2 && req.attention_mask.size(0) == st.B &&
                  req.attention_mask.size(1) == st.S,
              "forward: attention_mask must be (B, past + T) = (", st.B, ", ", st.S, ")");
    key_valid = req.attention_mask.to(device_).ne(0);
    st.key_valid = key_valid;
    st.positions = (key_valid.to(at::kLong).cumsum(1) - 1).clamp_min(0).slice(1, st.past_len);
  } else {
    st.positions = at::arange(st.past_len, st.S, long_opts).unsqueeze(0).expand({st.B, st.T});
  }
  if (family_row(spec_.family).learned_positions) {
    const int64_t last = st.positions.max().item<int64_t>(),
                  count = spec_.max_positions - spec_.position_offset;
    XAI_CHECK(last < count, "forward: position ", last, " is beyond the model's ", count,
              " learned positions (HINT: shorten the input)");
  }
  if (req.token_type_ids.defined()) {
    const at::Tensor& types = req.token_type_ids;
    XAI_CHECK(spec_.type_vocab_size > 0, "forward: token_type_ids given to ", spec_.model_type,
              ", which has no token types");
    XAI_CHECK(types.dim() == 2 && types.size(0) == st.B && types.size(1) == st.T,
              "forward: token_type_ids must be (B, T) = (", st.B, ", ", st.T, ")");
    st.token_types = types.to(device_, at::kLong);
    const int64_t lo = st.token_types.min().item<int64_t>(),
                  hi = st.token_types.max().item<int64_t>();
    XAI_CHECK(lo >= 0 && hi < spec_.type_vocab_size, "forward: token types [", lo, ", ", hi,
              "] outside the model's ", spec_.type_vocab_size);
  }

  // Causal (and sliding-window, and padding) visibility of key k for the query at position q.
  at::Tensor q_abs = at::arange(st.past_len, st.S, long_opts).unsqueeze(1);  // (T, 1)
  at::Tensor k_abs = at::arange(0, st.S, long_opts).unsqueeze(0);            // (1, S)
  // An encoder's query sees every key (the mask below still hides padding).
  at::Tensor allowed = is_causal(spec_) ? k_abs.le(q_abs)  // (T, S)
                                        : at::ones({st.T, st.S}, long_opts.dtype(at::kBool));
  if (spec_.sliding_window) allowed = allowed.logical_and(k_abs.gt(q_abs - *spec_.sliding_window));
  allowed = allowed.view({1, 1, st.T, st.S});
  if (key_valid.defined()) allowed = allowed.logical_and(key_valid.view({st.B, 1, 1, st.S}));
  st.allowed = allowed;
  st.mask = at::zeros(allowed.sizes(), at::TensorOptions().dtype(at::kFloat).device(device_))
                .masked_fill_(allowed.logical_not(), kMasked);

  if (ctl.key_factors.defined()) {
    XAI_CHECK(ctl.key_factors.dim() == 2 && ctl.key_factors.size(1) == st.S &&
                  (ctl.key_factors.size(0) == st.B || ctl.key_factors.size(0) == 1),
              "forward: key_factors must be (B, past + T) = (", st.B, ", ", st.S, ")");
  }
  if (ctl.keep_probs) result.attn_probs.resize(spec_.num_layers);
  if (req.return_cache) {
    result.cache.keys.resize(spec_.num_layers);
    result.cache.values.resize(spec_.num_layers);
  }

  // Logits at some positions only: the last layer computes rows from the lowest of them on
  // (unless its probabilities are kept or replaced, which callers read as (B, H, T, S)).
  if (req.logit_positions.defined()) {
    const int64_t lowest = check_logit_positions(req.logit_positions, st.B, st.T);
    const int last = spec_.num_layers - 1;
    if (!(ctl.applies_to(last) && (ctl.keep_probs || ctl.replace_probs))) {
      st.last_layer_rows_from = lowest;
    }
  }

  prepare(st);
  if (!req.hidden_states.defined()) x = add_positions(x, st);
  if (req.return_layer_inputs) result.layer_inputs.resize(spec_.num_layers);
  for (int l = start; l < end; ++l) {
    if (req.return_layer_inputs) result.layer_inputs[l] = x;
    x = block(l, x, st);
    if (req.release_layers) release_layer(l);
  }
  if (req.end_layer >= 0) {
    result.hidden_states = x;
    return result;
  }

  at::Tensor h = req.logit_positions.defined()
                     ? select_positions(x, req.logit_positions, st.last_layer_rows_from)
                     : x;
  h = final_norm(h, st);
  if (!group_ || spec_.classifier()) {
    // One rank, or a classifier: its head is small and whole on every rank, which holds the
    // whole hidden state (the row-parallel layers sum over the group), so no rank communicates.
    result.logits = head(h, st).to(at::kFloat);
  } else {
    // Vocabulary-parallel head: this rank's rows; asked for whole, they are gathered into
    // (B, P, V) (the last rank's part, which may be short, padded to the chunk for it).
    at::Tensor part =
        linear(st, enter(h), globals_.head, globals_.head_bias, /*in_out=*/false).to(at::kFloat);
    if (req.vocab_parallel) {
      // Every rank must stop alike: the finiteness test is summed over the group first.
      const at::Tensor total = group_->sum(part.detach().sum(at::kDouble).view({1}));
      if (!std::isfinite(total.item<double>())) check_finite_logits(part, /*force=*/true);
      result.logits = part;
      return result;
    }
    const int64_t pad = split_.vocab_chunk() - part.size(-1);
    if (pad > 0) part = at::constant_pad_nd(part, {0, pad});
    result.logits = gather_over_group(*group_, part, -1).narrow(-1, 0, spec_.vocab_size);
  }
  check_finite_logits(result.logits);  // (B, P, V)
  return result;
}

at::Tensor TransformerModel::attend(int layer, const at::Tensor& q, const at::Tensor& k_new,
                                    const at::Tensor& v_new, double scale, ForwardState& st) {
  // q holds the last T of this call's st.T rows (all of them except in a last layer whose rows
  // from r0 on are needed); keys and values hold every row.
  const int64_t B = st.B, T = q.size(2), S = st.S, r0 = st.T - T;
  const int64_t H = q.size(1), Hkv = k_new.size(1), Dh = q.size(3), G = H / Hkv;
  const at::Tensor mask = r0 > 0 ? st.mask.slice(2, r0) : st.mask;           // (B or 1, 1, T, S)
  const at::Tensor allowed = r0 > 0 ? st.allowed.slice(2, r0) : st.allowed;  // same
  at::Tensor k = k_new, v = v_new;  // (B, Hkv, S, Dh) after the prefix is prepended
  if (st.past != nullptr) {
    at::Tensor pk = st.past->keys[layer], pv = st.past->values[layer];
    if (pk.size(0) != B) {
      pk = pk.expand({B, -1, -1, -1});
      pv = pv.expand({B, -1, -1, -1});
    }
    k = at::cat({pk, k_new}, 2);
    v = at::cat({pv, v_new}, 2);
  }
  if (st.return_cache) {
    st.result->cache.keys[layer] = k;
    st.result->cache.values[layer] = v;
  }

  const AttentionControl& ctl = *st.control;
  const bool controlled = ctl.applies_to(layer);
  const bool suppress = controlled && ctl.key_factors.defined();

  // Query heads h = kv * G + g share key/value head kv (grouped-query attention): fold the group
  // into the row dimension so no key or value is copied.
  at::Tensor qg = q.contiguous().view({B, Hkv, G * T, Dh});  // (B, Hkv, G*T, Dh)

  // Inference on CPU without kept or replaced probabilities: the fused tile kernel or the
  // unfused batched one, whichever this machine runs faster for the shape (attention_cpu.h).
  const bool fused = q.device().is_cpu() && q.scalar_type() == at::kFloat &&
                     !at::GradMode::is_enabled() &&
                     !(controlled && (ctl.keep_probs || ctl.replace_probs));
  if (fused) {
    FusedAttentionArgs args;
    args.past_len = st.past_len + r0;
    args.scale = scale;
    if (suppress) args.key_factors = ctl.key_factors;
    args.mode = ctl.mode;
    args.minimum = ctl.shift_minimum;
    args.key_valid = st.key_valid;
    args.window = spec_.sliding_window;
    args.causal = is_causal(spec_);
    at::Tensor out = inference_attention_cpu(qg, k.contiguous(), v.contiguous(), G, args);
    return out.view({B, H, T, Dh}).transpose(1, 2).reshape({B, T, H * Dh});
  }
  // Inference elsewhere (a GPU; bfloat16 on the CPU): blocks of query rows, so no layer writes
  // out (B, H, T, S) float32 scores (at 30B and T = 1024 that is gigabytes per AtMan batch).
  if (!at::GradMode::is_enabled() && !(controlled && (ctl.keep_probs || ctl.replace_probs))) {
    at::Tensor out = blocked_inference_attention(qg, k, v, G, mask, allowed,
                                                 suppress ? ctl.key_factors : at::Tensor(),
                                                 ctl.mode, ctl.shift_minimum, scale);
    return out.transpose(1, 2).reshape({B, T, H * Dh});
  }
  // Relevance rules on the attention's inputs (the fused path never runs with gradients).
  at::Tensor kk = k, vv = v;
  if (st.rules == GradientRules::kAttnLrp) {
    qg = scale_gradient(st, qg, 0.25);
    kk = scale_gradient(st, k, 0.25);
    vv = scale_gradient(st, v, 0.5);
  } else if (st.rules == GradientRules::kCpLrp) {
    qg = qg.detach();
    kk = k.detach();
  } else if (st.rules == GradientRules::kLrpAlphaBeta) {
    qg = scale_gradient(st, qg, 0.5);
    kk = scale_gradient(st, k, 0.5);
    vv = scale_gradient(st, v, 0.5);
  }
  // With gradients and nothing that needs the probabilities themselves (kept, replaced, AtMan's
  // factors, or Chefer's LRP rules on the softmax): the blockwise path, whose backward recomputes
  // the probabilities instead of storing (B, H, T, S) per layer.
  if (at::GradMode::is_enabled() && !suppress &&
      !(controlled && (ctl.keep_probs || ctl.replace_probs)) &&
      st.rules != GradientRules::kLrpAlphaBeta && blockwise_attention()) {
    at::Tensor kh = kk, vh = vv;  // (B, H, S, Dh): each query head's key / value head
    if (G > 1) {
      kh = kk.unsqueeze(2).expand({B, Hkv, G, S, Dh}).reshape({B, H, S, Dh});
      vh = vv.unsqueeze(2).expand({B, Hkv, G, S, Dh}).reshape({B, H, S, Dh});
    }
    ProbsGradSink sink;
    if (controlled && ctl.probs_grad) sink = probs_grad_sink(ctl, layer, r0);
    at::Tensor out =
        block_attention(qg.reshape({B, H, T, Dh}), kh, vh, mask, scale, 0, std::move(sink));
    return out.transpose(1, 2).reshape({B, T, H * Dh});
  }
  at::Tensor logits;  // (B, H, T, S) float
  at::Tensor qs;      // qg * scale, when the scores are qs k^T + mask
  if (!suppress) {
    qs = qg * scale;
    logits = at::matmul(qs, kk.transpose(2, 3)).view({B, H, T, S}).to(at::kFloat);
    logits = logits + mask;
  } else {
    const at::Tensor raw = at::matmul(qg, kk.transpose(2, 3)).view({B, H, T, S}).to(at::kFloat);
    logits =
        controlled_scores(raw, ctl.key_factors, ctl.mode, ctl.shift_minimum, mask, allowed, scale);
  }
  at::Tensor probs = at::softmax(logits, -1);  // (B, H, T, S)
  if (st.rules == GradientRules::kLrpAlphaBeta) {
    // Identity rule through the softmax: the probabilities' relevance passes to the scores.
    probs = qs.defined()
                ? forward_of(st, probs,
                             IdentityRuleSoftmaxFn::apply(logits, probs.detach(), qs.detach(),
                                                          kk.detach(), mask, allowed))
                : with_gradient_of(st, probs, logits.masked_fill(allowed.logical_not(), 0));
  }
  probs = probs.to(v.scalar_type());
  // What callers see (kept or replaced) is every head's probabilities. Under tensor parallelism
  // they are gathered, and this rank's heads are taken from them again, so that a gradient with
  // respect to them (or to a replacement) is whole on every rank: the local part's backward
  // gathers it, the gather's backward keeps this rank's heads.
  if (controlled && (ctl.replace_probs || ctl.keep_probs)) {
    at::Tensor whole = group_ ? gather_over_group(*group_, probs, 1) : probs;
    if (ctl.replace_probs) {
      const int64_t Hall = group_ ? H * group_->size() : H;
      whole = ctl.replace_probs(layer, whole);
      XAI_CHECK(whole.dim() == 4 && whole.size(0) == B && whole.size(1) == Hall &&
                    whole.size(2) == T && whole.size(3) == S,
                "replace_probs must return (B, H, T, S) = (", B, ", ", Hall, ", ", T, ", ", S, ")");
    }
    if (ctl.keep_probs) st.result->attn_probs[layer] = whole;
    probs = group_ ? local_part(*group_, whole, 1) : whole;
  }
  if (controlled && ctl.probs_grad && probs.requires_grad()) {
    probs.register_hook(
        [sink = probs_grad_sink(ctl, layer, r0), a = probs.detach()](const at::Tensor& grad) {
          sink(0, a.to(at::kFloat), grad.to(at::kFloat));
        });
  }
  at::Tensor used =
      st.rules == GradientRules::kLrpAlphaBeta ? scale_gradient(st, probs, 0.5) : probs;
  at::Tensor out = at::matmul(used.reshape({B, Hkv, G * T, S}), vv);  // (B, Hkv, G*T, Dh)
  return out.view({B, H, T, Dh}).transpose(1, 2).reshape({B, T, H * Dh});
}

}  // namespace xai
