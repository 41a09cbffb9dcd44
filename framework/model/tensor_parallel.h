// Tensor parallelism inside a model (Megatron-LM's layout): a group of ranks holds one model
// together. Query, key and value projections, the MLP's up and gate projections and the LM head
// are split by output (column-parallel: heads, MLP columns, vocabulary rows); the attention's
// output projection and the MLP's down projection by input (row-parallel), their partial outputs
// summed over the group before the bias; the embedding by vocabulary rows. With fewer key/value
// heads than ranks, each rank keeps the one its query heads read (replicated).
//
// Which part of a tensor a rank keeps follows from the dimension names of the family's tensor
// table (tensor_table.h): a dimension of heads, key/value heads, MLP width or vocabulary is split,
// the hidden size never. The model's blocks see local head counts and call the three collectives
// below; nothing else in a family file knows the group.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "framework/model/arch_registry.h"
#include "framework/model/model.h"

namespace xai {

class Communicator;
class DeviceCollectives;

// The collectives of one tensor-parallel group on tensors: MPI through the Communicator for CPU
// tensors, NCCL through DeviceCollectives for GPU tensors (when given; else through the host).
// Every rank of the group must make the same calls in the same order.
class TensorGroup {
 public:
  explicit TensorGroup(Communicator& comm, DeviceCollectives* devices = nullptr);
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Element-wise sum (max) over the group: a new tensor of t's shape and dtype, reduced in float32
  // (float64 for a float64 t).
  at::Tensor sum(const at::Tensor& t) const;
  at::Tensor max(const at::Tensor& t) const;
  // Every rank's t (the same shape on each), concatenated along `dim` in rank order.
  at::Tensor gather(const at::Tensor& t, int64_t dim) const;

  // Traffic so far, for benchmarks: elements summed and gathered (this rank's contribution).
  int64_t elements_summed() const { return summed_; }
  int64_t elements_gathered() const { return gathered_; }

 private:
  Communicator* comm_;
  DeviceCollectives* devices_;
  int rank_ = 0, size_ = 1;
  mutable int64_t summed_ = 0, gathered_ = 0;
  at::Tensor reduce(const at::Tensor& t, int op) const;
};

// The autograd-aware forms (Megatron's f and g): the identity whose backward sums the gradient
// over the group (the input of a column-parallel layer, replicated on every rank), the sum whose
// backward is the identity (the output of a row-parallel layer), and the gather along `dim` whose
// backward keeps this rank's slice; and its reverse, this rank's slice of a replicated tensor whose
// backward gathers the slices' gradients (so the replicated tensor gets its whole gradient on
// every rank). Plain collectives when no gradient is being recorded.
at::Tensor enter_group(const TensorGroup& g, const at::Tensor& x);
at::Tensor sum_over_group(const TensorGroup& g, const at::Tensor& partial);
at::Tensor gather_over_group(const TensorGroup& g, const at::Tensor& local, int64_t dim);
at::Tensor local_part(const TensorGroup& g, const at::Tensor& whole, int64_t dim);

// The group behind a handle that custom autograd functions keep (0: none).
int64_t group_handle(const TensorGroup* g);
const TensorGroup* group_from_handle(int64_t handle);

// Reductions over the vocabulary of logits (rows, n) that hold the rows `v` says (ForwardRequest::
// vocab_parallel): each row's log-sum-exp, the logit of each row's target (rows), and each row's
// argmax (no gradient). Differentiable, with whole gradients of this rank's part; when the logits
// hold the whole vocabulary (n is V, or no group), the plain single-rank forms.
at::Tensor vocab_logsumexp(const at::Tensor& logits, const VocabSlice& v);
// Whether `logits` hold only this rank's part of the vocabulary (the reductions above then
// communicate), rather than all of it.
bool vocab_part(const at::Tensor& logits, const VocabSlice& v);
at::Tensor vocab_target(const at::Tensor& logits, const at::Tensor& targets, const VocabSlice& v);
at::Tensor vocab_argmax(const at::Tensor& logits, const VocabSlice& v);

// [begin, end) of a split dimension that one rank keeps, in elements of that dimension.
struct SplitRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// How a model is split over its group: head counts per rank and the ranges of every split
// dimension. A pure value, unit-tested without ranks.
struct TensorSplit {
  int rank = 0, size = 1;
  int64_t heads = 0, kv_heads = 0, head_dim = 0, inter = 0, vocab = 0;

  // Validates the numbers against the spec (size divides the heads; key/value heads are split
  // when size divides them, replicated when they divide size); throws a one-line xai::Error
  // naming `where` (e.g. "parallel.tensor") otherwise.
  static TensorSplit make(const ModelSpec& spec, int rank, int size, const std::string& where);

  bool split() const { return size > 1; }
  int64_t local_heads() const { return heads / size; }
  int64_t local_kv_heads() const { return kv_heads >= size ? kv_heads / size : 1; }
  SplitRange query() const;   // of H * Dh
  SplitRange kv() const;      // of Hkv * Dh
  SplitRange mlp() const;     // of F (balanced; F need not divide)
  SplitRange vocab_rows() const;  // of V, in chunks of vocab_chunk() (the last may be short)
  int64_t vocab_chunk() const { return (vocab + size - 1) / size; }

  // This rank's part of a table tensor of shape (rows, cols) (cols kNone: a vector): a view where
  // the part is contiguous, else a copy of the part only. Tensors with no split dimension are
  // returned as they are.
  at::Tensor slice(const at::Tensor& full, Dim rows, Dim cols) const;
  // The elements of a table tensor this rank keeps (the whole tensor's when nothing is split).
  int64_t elements(const TensorEntry& e) const;
  // Whether a dimension of this name is split (heads, key/value heads, MLP width, vocabulary).
  static bool splits(Dim d);

 private:
  // The axis of a (rows, cols) tensor that is split (0 or 1), -1 for none.
  static int split_axis(Dim rows, Dim cols);
  // The elements this rank keeps along a split dimension of that name.
  int64_t kept(Dim d) const;
};

}  // namespace xai
