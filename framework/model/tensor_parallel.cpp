#include "framework/model/tensor_parallel.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <vector>

#include "framework/common/error.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"

namespace xai {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

TensorGroup::TensorGroup(Communicator& comm, DeviceCollectives* devices)
    : comm_(&comm), devices_(devices), rank_(comm.rank()), size_(comm.size()) {}

// No shortcut for a group of one: the model never calls a group of one (it holds none then), and
// a one-rank group is how the GPU check runs the NCCL path on a machine with one GPU.
at::Tensor TensorGroup::sum(const at::Tensor& t) const {
  summed_ += t.numel();
  return reduce(t, static_cast<int>(ReduceOp::kSum));
}

at::Tensor TensorGroup::max(const at::Tensor& t) const {
  return reduce(t, static_cast<int>(ReduceOp::kMax));
}

at::Tensor TensorGroup::reduce(const at::Tensor& t, int op_index) const {
  const auto op = static_cast<ReduceOp>(op_index);
  // In float32 at least (a bf16 sum over ranks would round at every step), float64 kept.
  const bool wide = t.scalar_type() == at::kDouble;
  const at::ScalarType work = wide ? at::kDouble : at::kFloat;
  if (devices_ != nullptr && t.is_cuda()) {
    at::Tensor buf = t.detach().to(work, /*non_blocking=*/false, /*copy=*/true).contiguous();
    devices_->allreduce(buf.data_ptr(), static_cast<size_t>(buf.numel()),
                        wide ? DeviceDType::kFloat64 : DeviceDType::kFloat32, op);
    return buf.to(t.scalar_type());
  }
  at::Tensor buf = t.detach().to(at::kCPU, work, false, /*copy=*/true).contiguous();
  if (wide) {
    comm_->allreduce(buf.data_ptr<double>(), static_cast<size_t>(buf.numel()), op);
  } else {
    comm_->allreduce(buf.data_ptr<float>(), static_cast<size_t>(buf.numel()), op);
  }
  return buf.to(t.device(), t.scalar_type());
}

at::Tensor TensorGroup::gather(const at::Tensor& t, int64_t dim) const {
  gathered_ += t.numel();
  const int64_t d = dim < 0 ? dim + t.dim() : dim;
  // Gathered as (size, *t.shape), then the rank axis moved next to `dim` and merged into it.
  at::Tensor all;
  const at::Tensor mine = t.detach().contiguous();
  if (devices_ != nullptr && t.is_cuda()) {
    at::Tensor src = mine.to(at::kFloat);
    std::vector<int64_t> shape = {size_};
    for (int64_t s : t.sizes()) shape.push_back(s);
    all = at::empty(shape, src.options());
    devices_->allgather(src.data_ptr(), all.data_ptr(), static_cast<size_t>(src.numel()),
                        DeviceDType::kFloat32);
    all = all.to(t.scalar_type());
  } else {
    const at::Tensor src = mine.to(at::kCPU);
    std::vector<int64_t> shape = {size_};
    for (int64_t s : t.sizes()) shape.push_back(s);
    all = at::empty(shape, src.options());
    comm_->allgather_bytes(src.data_ptr(), all.data_ptr(),
                     static_cast<size_t>(src.numel()) * src.element_size());
    all = all.to(t.device());
  }
  // (size, ..., n_d, ...) -> (..., size, n_d, ...) -> (..., size * n_d, ...)
  std::vector<int64_t> merged(t.sizes().begin(), t.sizes().end());
  merged[static_cast<size_t>(d)] *= size_;
  return all.movedim(0, d).reshape(merged);
}

namespace {

const TensorGroup& group_of(AutogradContext* ctx) {
  return *group_from_handle(ctx->saved_data["group"].toInt());
}
int64_t group_handle(const TensorGroup& g) { return group_handle(&g); }

// f: identity forward, the gradient summed over the group backward.
struct EnterGroupFn : public torch::autograd::Function<EnterGroupFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {group_of(ctx).sum(grads[0]), at::Tensor()};
  }
};

// g: the sum over the group forward, identity backward.
struct SumOverGroupFn : public torch::autograd::Function<SumOverGroupFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    return group_of(ctx).sum(x);
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    return {grads[0], at::Tensor()};
  }
};

// The gather along dim forward; backward, this rank's slice of the (replicated) gradient.
struct GatherOverGroupFn : public torch::autograd::Function<GatherOverGroupFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t group,
                            int64_t dim) {
    ctx->saved_data["group"] = group;
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["n"] = x.size(dim);
    return group_of(ctx).gather(x, dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t dim = ctx->saved_data["dim"].toInt(), n = ctx->saved_data["n"].toInt();
    return {grads[0].narrow(dim, group_of(ctx).rank() * n, n), at::Tensor(), at::Tensor()};
  }
};

// This rank's slice forward; backward, every rank's slice gradient gathered into the whole.
struct LocalPartFn : public torch::autograd::Function<LocalPartFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t group,
                            int64_t dim) {
    ctx->saved_data["group"] = group;
    ctx->saved_data["dim"] = dim;
    const TensorGroup& g = group_of(ctx);
    const int64_t n = x.size(dim) / g.size();
    return x.narrow(dim, g.rank() * n, n);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {group_of(ctx).gather(grads[0], ctx->saved_data["dim"].toInt()), at::Tensor(),
            at::Tensor()};
  }
};

bool recording(const at::Tensor& x) { return at::GradMode::is_enabled() && x.requires_grad(); }

}  // namespace

at::Tensor enter_group(const TensorGroup& g, const at::Tensor& x) {
  if (g.size() == 1 || !recording(x)) return x;
  return EnterGroupFn::apply(x, group_handle(g));
}

at::Tensor sum_over_group(const TensorGroup& g, const at::Tensor& partial) {
  if (g.size() == 1) return partial;
  if (!recording(partial)) return g.sum(partial);
  return SumOverGroupFn::apply(partial, group_handle(g));
}

at::Tensor gather_over_group(const TensorGroup& g, const at::Tensor& local, int64_t dim) {
  if (g.size() == 1) return local;
  const int64_t d = dim < 0 ? dim + local.dim() : dim;
  if (!recording(local)) return g.gather(local, d);
  return GatherOverGroupFn::apply(local, group_handle(g), d);
}

at::Tensor local_part(const TensorGroup& g, const at::Tensor& whole, int64_t dim) {
  const int64_t d = dim < 0 ? dim + whole.dim() : dim;
  XAI_CHECK(whole.size(d) % g.size() == 0, "internal: a tensor of ", whole.size(d),
            " along the split dimension for ", g.size(), " ranks");
  if (g.size() == 1) return whole;
  if (!recording(whole)) {
    const int64_t n = whole.size(d) / g.size();
    return whole.narrow(d, g.rank() * n, n);
  }
  return LocalPartFn::apply(whole, group_handle(g), d);
}

int64_t group_handle(const TensorGroup* g) { return reinterpret_cast<int64_t>(g); }
const TensorGroup* group_from_handle(int64_t handle) {
  return reinterpret_cast<const TensorGroup*>(handle);
}

// ---- the vocabulary -----------------------------------------------------------------------

bool vocab_part(const at::Tensor& logits, const VocabSlice& v) {
  return v.group != nullptr && v.group->size() > 1 && logits.size(-1) == v.size;
}

namespace {
// The group when `logits` hold part of the vocabulary, else null.
const TensorGroup* part_of(const at::Tensor& logits, const VocabSlice& v) {
  return vocab_part(logits, v) ? v.group : nullptr;
}
}  // namespace

at::Tensor vocab_logsumexp(const at::Tensor& logits, const VocabSlice& v) {
  const TensorGroup* g = part_of(logits, v);
  if (g == nullptr) return at::logsumexp(logits, -1);
  // Shifted by the group's row maximum (a constant for the gradient), summed over the group.
  const at::Tensor m = g->max(std::get<0>(logits.detach().max(-1)));
  const at::Tensor s = (logits - m.unsqueeze(-1)).exp().sum(-1);
  return m + sum_over_group(*g, s).log();
}

at::Tensor vocab_target(const at::Tensor& logits, const at::Tensor& targets, const VocabSlice& v) {
  const at::Tensor t = targets.to(logits.device(), at::kLong);
  const TensorGroup* g = part_of(logits, v);
  if (g == nullptr) return logits.gather(-1, t.unsqueeze(-1)).squeeze(-1);
  // The rank that holds a row's target gives its logit, the others 0.
  const at::Tensor mine = t.ge(v.begin).logical_and(t.lt(v.begin + v.size));
  const at::Tensor local = (t - v.begin).clamp(0, v.size - 1);
  const at::Tensor z = logits.gather(-1, local.unsqueeze(-1)).squeeze(-1);
  return sum_over_group(*g, z * mine.to(z.scalar_type()));
}

at::Tensor vocab_argmax(const at::Tensor& logits, const VocabSlice& v) {
  const TensorGroup* g = part_of(logits, v);
  if (g == nullptr) return logits.argmax(-1);
  at::NoGradGuard no_grad;
  auto [best, where] = logits.detach().to(at::kDouble).max(-1);  // this rank's best of each row
  // Every rank's best, (k, ...): the first rank holding the largest wins (the lowest index).
  const at::Tensor values = g->gather(best.unsqueeze(0), 0);
  const at::Tensor index = g->gather((where + v.begin).to(at::kDouble).unsqueeze(0), 0);
  const at::Tensor rank = values.argmax(0, /*keepdim=*/true);
  return index.gather(0, rank).squeeze(0).to(at::kLong);
}

// ---- the split ------------------------------------------------------------------------------

TensorSplit TensorSplit::make(const ModelSpec& spec, int rank, int size,
                              const std::string& where) {
  TensorSplit s;
  s.rank = rank;
  s.size = size;
  s.heads = spec.num_heads;
  s.kv_heads = spec.num_kv_heads;
  s.head_dim = spec.head_dim;
  s.inter = spec.intermediate_size;
  s.vocab = spec.vocab_size;
  XAI_CHECK(size >= 1 && rank >= 0 && rank < size, where, ": tensor rank ", rank, " of ", size);
  XAI_CHECK(s.heads % size == 0, where, " = ", size, " does not divide the model's ", s.heads,
            " attention heads (HINT: a divisor of ", s.heads, ")");
  XAI_CHECK(s.kv_heads % size == 0 || size % s.kv_heads == 0, where, " = ", size,
            " neither divides the model's ", s.kv_heads, " key/value heads nor is a multiple of "
            "them (HINT: a divisor or a multiple of ", s.kv_heads, " that divides ", s.heads, ")");
  // An image model has no vocabulary (vocab 0): nothing of it to split.
  XAI_CHECK(s.inter >= size &&
                (size == 1 || s.vocab == 0 || (size - 1) * s.vocab_chunk() < s.vocab),
            where,
            " = ", size,
            " is too many ranks for the model's MLP width of ", s.inter, " or vocabulary of ",
            s.vocab);
  return s;
}

SplitRange TensorSplit::query() const {
  const int64_t n = local_heads() * head_dim;
  return {rank * n, (rank + 1) * n};
}

SplitRange TensorSplit::kv() const {
  if (kv_heads >= size) {
    const int64_t n = local_kv_heads() * head_dim;
    return {rank * n, (rank + 1) * n};
  }
  // Replicated: the key/value head of this rank's query heads (they all share one).
  const int64_t group = heads / kv_heads;  // query heads per key/value head
  const int64_t kv = rank * local_heads() / group;
  return {kv * head_dim, (kv + 1) * head_dim};
}

SplitRange TensorSplit::mlp() const {
  return {rank * inter / size, (rank + 1) * inter / size};
}

SplitRange TensorSplit::vocab_rows() const {
  const int64_t c = vocab_chunk();
  return {std::min(vocab, rank * c), std::min(vocab, (rank + 1) * c)};
}

bool TensorSplit::splits(Dim d) {
  switch (d) {
    case Dim::kQ:
    case Dim::kKV:
    case Dim::kInter:
    case Dim::kVocab:
    case Dim::k3Hidden:
    case Dim::kQKVHeads:
      return true;
    default:
      return false;
  }
}

int TensorSplit::split_axis(Dim rows, Dim cols) {
  if (splits(rows)) return 0;
  return cols != Dim::kNone && splits(cols) ? 1 : -1;
}

int64_t TensorSplit::kept(Dim d) const {
  switch (d) {
    case Dim::kQ:
      return query().size();
    case Dim::kKV:
      return kv().size();
    case Dim::kInter:
      return mlp().size();
    case Dim::kVocab:
      return vocab_rows().size();
    case Dim::k3Hidden:
    case Dim::kQKVHeads:
      return 3 * query().size();
    default:
      throw Error("internal: a dimension that is not split");
  }
}

at::Tensor TensorSplit::slice(const at::Tensor& full, Dim rows, Dim cols) const {
  const int axis = split() ? split_axis(rows, cols) : -1;
  if (axis < 0) return full;
  const Dim d = axis == 0 ? rows : cols;
  auto part = [&](SplitRange r) { return full.narrow(axis, r.begin, r.size()); };
  switch (d) {
    case Dim::kQ:
      return part(query());
    case Dim::kKV:
      return part(kv());
    case Dim::kInter:
      return part(mlp());
    case Dim::kVocab:
      return part(vocab_rows());
    case Dim::k3Hidden: {  // q | k | v sections of H * Dh each: this rank's heads of each
      const SplitRange q = query();
      const int64_t section = heads * head_dim;
      return at::cat({full.narrow(axis, q.begin, q.size()),
                      full.narrow(axis, section + q.begin, q.size()),
                      full.narrow(axis, 2 * section + q.begin, q.size())},
                     axis);
    }
    case Dim::kQKVHeads: {  // (H, 3, Dh): this rank's heads are one run of rows
      const SplitRange q = query();
      return full.narrow(axis, 3 * q.begin, 3 * q.size());
    }
    default:
      return full;
  }
}

int64_t TensorSplit::elements(const TensorEntry& e) const {
  int64_t n = 1;
  for (int64_t s : e.shape) n *= s;
  const int axis = split() && !e.shape.empty() ? split_axis(e.rows, e.cols) : -1;
  if (axis < 0) return n;
  return n / e.shape[static_cast<size_t>(axis)] * kept(axis == 0 ? e.rows : e.cols);
}

}  // namespace xai
