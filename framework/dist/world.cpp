#include "framework/dist/world.h"

#include "framework/common/error.h"

namespace xai {

World World::make(int size, int rank, int local_size, int local_rank, int tensor,
                  const std::string& where) {
  XAI_CHECK(size >= 1, where, ": world size must be >= 1 (got ", size, ")");
  XAI_CHECK(rank >= 0 && rank < size, where, ": rank ", rank, " is outside 0..", size - 1);
  XAI_CHECK(local_size >= 1 && local_size <= size, where, ": ranks per node must be in 1..", size,
            " (got ", local_size, ")");
  XAI_CHECK(local_rank >= 0 && local_rank < local_size, where, ": local rank ", local_rank,
            " is outside 0..", local_size - 1);
  XAI_CHECK(tensor >= 1, where, ": parallel.tensor must be >= 1 (got ", tensor, ")");
  XAI_CHECK(size % tensor == 0, where, ": parallel.tensor = ", tensor,
            " does not divide the world size ", size, " (HINT: launch a multiple of ", tensor,
            " ranks)");
  World w;
  w.size = size;
  w.rank = rank;
  w.local_size = local_size;
  w.local_rank = local_rank;
  w.tensor = tensor;
  return w;
}

std::string World::describe() const {
  return str_cat("rank ", rank, "/", size, " (local ", local_rank, "/", local_size, ", replica ",
                 replica(), "/", replicas(), ", tp ", tp_rank(), "/", tensor, ")");
}

}  // namespace xai
