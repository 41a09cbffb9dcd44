#include "framework/model/block_attention.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace xai {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Query rows per block: the block's (B, H, rows, S) float32 scores stay under 16 MB, and there are
// at least about 8 blocks, so the causal skipping below drops nearly half of the key columns.
int64_t block_rows(int64_t B, int64_t H, int64_t T, int64_t S, int64_t asked) {
  if (asked > 0) return asked;
  constexpr int64_t kBytes = 16 << 20;
  const int64_t per_row = std::max<int64_t>(1, B * H * S * 4);
  const int64_t rows = std::min(kBytes / per_row, (T + 7) / 8);
  return std::clamp<int64_t>(rows, 16, std::max<int64_t>(T, 1));
}

// Scores of query rows [t0, t1) against the first `cols` keys: (B, H, rows, cols) float32, scaled
// (on q, the smaller side) and masked, exactly as the forward computed them.
at::Tensor scores(const at::Tensor& q_scaled, const at::Tensor& k, const at::Tensor& mask,
                  int64_t t0, int64_t t1, int64_t cols) {
  return at::matmul(q_scaled.slice(2, t0, t1), k.slice(2, 0, cols).transpose(2, 3))
      .to(at::kFloat)
      .add_(mask.slice(2, t0, t1).slice(3, 0, cols));
}

}  // namespace

// Per block of query rows, how many leading keys it must see: one past the last key that any of
// its rows may attend to (causal masking leaves the keys after it at probability exactly 0, so
// they are skipped, about half of the work at S = T). A block with a row that sees no key at all
// keeps every key: that row's softmax is uniform over all S, as the written-out path gives.
std::vector<int64_t> block_attention_columns(const at::Tensor& mask, int64_t T, int64_t S,
                                             int64_t rows) {
  const at::Tensor sees = mask.gt(-1e29f);        // (B or 1, 1, T, S): masked keys are -1e30
  const at::Tensor visible = sees.any(0).any(0);  // (T, S) bool: some batch row sees it
  const at::Tensor last =                         // (T) one past the last visible key, 0 where none
      (visible.to(at::kLong) * at::arange(1, S + 1, visible.options().dtype(at::kLong)))
          .amax(-1)
          .to(at::kCPU)
          .contiguous();
  const at::Tensor row_blind = sees.any(-1).logical_not().any(0).any(0).to(at::kCPU);  // (T)
  const int64_t* l = last.data_ptr<int64_t>();
  const bool* blind = row_blind.data_ptr<bool>();
  std::vector<int64_t> cols;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t t1 = std::min(T, t0 + rows);
    int64_t c = 0;
    for (int64_t t = t0; t < t1; ++t) c = blind[t] ? S : std::max(c, l[t]);
    cols.push_back(std::max<int64_t>(c, 1));
  }
  return cols;
}

namespace {

// Carries a ProbsGradSink from the forward to the backward (saved_data holds IValues only).
struct SinkHolder : torch::CustomClassHolder {
  explicit SinkHolder(ProbsGradSink f) : sink(std::move(f)) {}
  ProbsGradSink sink;
};

struct BlockAttentionFn : public torch::autograd::Function<BlockAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& mask, double scale,
                            int64_t rows_per_block, const ProbsGradSink& grad_sink) {
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2);
    const at::Tensor qs = q * scale;
    at::Tensor out = at::empty({B, H, T, v.size(3)}, v.options());
    const int64_t rows = block_rows(B, H, T, S, rows_per_block);
    const std::vector<int64_t> cols = block_attention_columns(mask, T, S, rows);
    for (int64_t t0 = 0, b = 0; t0 < T; t0 += rows, ++b) {
      const int64_t t1 = std::min(T, t0 + rows), c = cols[b];
      at::Tensor p = at::softmax(scores(qs, k, mask, t0, t1, c), -1);  // (B, H, rows, c)
      out.slice(2, t0, t1).copy_(at::matmul(p.to(v.scalar_type()), v.slice(2, 0, c)));
    }
    ctx->save_for_backward({qs, k, v, out});
    ctx->saved_data["mask"] = mask;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["cols"] = cols;
    if (grad_sink) {
      ctx->saved_data["sink"] =
          at::IValue::make_capsule(c10::make_intrusive<SinkHolder>(grad_sink));
    }
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &qs = saved[0], &k = saved[1], &v = saved[2], &out = saved[3];
    const at::Tensor mask = ctx->saved_data["mask"].toTensor();
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const std::vector<int64_t> cols = ctx->saved_data["cols"].toIntVector();
    const ProbsGradSink* sink = nullptr;
    c10::intrusive_ptr<torch::CustomClassHolder> holder;  // keeps *sink alive
    if (ctx->saved_data.count("sink") != 0) {
      holder = ctx->saved_data["sink"].toCapsule();
      sink = &static_cast<SinkHolder*>(holder.get())->sink;
    }
    const at::Tensor dout = grads[0].to(at::kFloat).contiguous();  // (B, H, T, Dh)
    const int64_t B = qs.size(0), H = qs.size(1), T = qs.size(2), S = k.size(2);
    const at::Tensor kf = k.to(at::kFloat), vf = v.to(at::kFloat), qf = qs.to(at::kFloat);
    // d softmax: dS = P * (dP - sum_j P_j dP_j), and sum_j P_j dP_j = dout . out per row.
    const at::Tensor delta = (dout * out.to(at::kFloat)).sum(-1, true);  // (B, H, T, 1)
    at::Tensor dq = at::empty({B, H, T, qs.size(3)}, dout.options());
    at::Tensor dk = at::zeros({B, H, S, k.size(3)}, dout.options());
    at::Tensor dv = at::zeros({B, H, S, v.size(3)}, dout.options());
    for (int64_t t0 = 0, b = 0; t0 < T; t0 += rows, ++b) {
      const int64_t t1 = std::min(T, t0 + rows), c = cols[b];
      // The forward's probabilities again, from the same scores through the same softmax.
      const at::Tensor p = at::softmax(scores(qs, k, mask, t0, t1, c), -1);  // (B, H, rows, c)
      const at::Tensor dob = dout.slice(2, t0, t1);                          // (B, H, rows, Dh)
      dv.slice(2, 0, c).add_(at::matmul(p.transpose(2, 3), dob));
      at::Tensor ds = at::matmul(dob, vf.slice(2, 0, c).transpose(2, 3));  // dP (B, H, rows, c)
      if (sink != nullptr) (*sink)(t0, p, ds);
      ds.sub_(delta.slice(2, t0, t1)).mul_(p);  // dS with respect to the scores
      dq.slice(2, t0, t1).copy_(at::matmul(ds, kf.slice(2, 0, c)).mul_(scale));
      dk.slice(2, 0, c).add_(at::matmul(ds.transpose(2, 3), qf.slice(2, t0, t1)));
    }
    return {dq.to(qs.scalar_type()),
            dk.to(k.scalar_type()),
            dv.to(v.scalar_type()),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor block_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& mask, double scale, int64_t rows_per_block,
                           ProbsGradSink grad_sink) {
  return BlockAttentionFn::apply(q, k, v, mask, scale, rows_per_block, grad_sink);
}

at::Tensor controlled_scores(const at::Tensor& raw, const at::Tensor& factors, SuppressionMode mode,
                             ShiftMinimum minimum, const at::Tensor& mask,
                             const at::Tensor& allowed, double scale) {
  if (!factors.defined()) return raw * scale + mask;
  const at::Tensor f = factors.to(raw.device(), at::kFloat).view({-1, 1, 1, raw.size(3)});
  if (mode == SuppressionMode::kShiftedScores) {
    at::Tensor row_min;  // (B, H, rows, 1)
    if (minimum == ShiftMinimum::kAllKeys) {
      row_min = raw.amin(-1, true);
    } else {
      const at::Tensor valid_min =
          raw.masked_fill(allowed.logical_not(), std::numeric_limits<float>::infinity())
              .amin(-1, true);
      // A row that sees no key (a padding query) shifts by nothing: its softmax is uniform
      // under the mask, never (inf - inf) * f.
      row_min = at::where(valid_min.isinf(), at::zeros_like(valid_min), valid_min);
    }
    return (raw - row_min) * f * scale + mask;
  }
  const at::Tensor log_f = at::where(f.gt(0), f.log(), at::full({}, -1e4f, f.options()));
  return raw * scale + log_f + mask;
}

at::Tensor blocked_inference_attention(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, int64_t groups, const at::Tensor& mask,
                                       const at::Tensor& allowed, const at::Tensor& factors,
                                       SuppressionMode mode, ShiftMinimum minimum, double scale,
                                       int64_t rows_per_block) {
  const int64_t B = q.size(0), Hkv = q.size(1), G = groups, T = q.size(2) / G, S = k.size(2);
  const int64_t H = Hkv * G, Dh = q.size(3);
  int64_t rows = rows_per_block;
  if (rows <= 0) {  // about 32 MB of float32 scores per block, never fewer than 16 rows
    rows = std::max<int64_t>(16, (int64_t{32} << 20) / std::max<int64_t>(1, B * H * S * 4));
  }
  rows = std::min(rows, T);
  // Shifted scores over every key read the masked keys too (their row minimum): keep them all.
  const bool skip_keys = !(factors.defined() && mode == SuppressionMode::kShiftedScores &&
                           minimum == ShiftMinimum::kAllKeys);
  const std::vector<int64_t> cols = skip_keys ? block_attention_columns(mask, T, S, rows)
                                              : std::vector<int64_t>((T + rows - 1) / rows, S);
  const at::Tensor q5 = q.view({B, Hkv, G, T, Dh});
  at::Tensor out = at::empty({B, Hkv, G, T, Dh}, v.options());
  for (int64_t t0 = 0, b = 0; t0 < T; t0 += rows, ++b) {
    const int64_t t1 = std::min(T, t0 + rows), n = t1 - t0, c = cols[b];
    const at::Tensor qb = q5.slice(3, t0, t1).reshape({B, Hkv, G * n, Dh});
    const at::Tensor raw = at::matmul(qb, k.slice(2, 0, c).transpose(2, 3))
                               .to(at::kFloat)
                               .view({B, H, n, c});  // (B, H, n, c)
    const at::Tensor f = factors.defined() ? factors.slice(-1, 0, c) : factors;
    const at::Tensor logits =
        controlled_scores(raw, f, mode, minimum, mask.slice(2, t0, t1).slice(3, 0, c),
                          allowed.slice(2, t0, t1).slice(3, 0, c), scale);
    const at::Tensor p = at::softmax(logits, -1).to(v.scalar_type()).view({B, Hkv, G * n, c});
    out.slice(3, t0, t1).copy_(at::matmul(p, v.slice(2, 0, c)).view({B, Hkv, G, n, Dh}));
  }
  return out.view({B, H, T, Dh});
}

}  // namespace xai
