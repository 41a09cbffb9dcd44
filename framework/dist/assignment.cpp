#include "framework/dist/assignment.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

#include "framework/common/error.h"

namespace xai {

namespace {
int64_t cost_of(const WorkItem& w) { return std::max<int64_t>(w.cost, 1); }
}  // namespace

std::vector<int> assign_balanced(const std::vector<WorkItem>& items, int ranks) {
  XAI_CHECK(ranks >= 1, "assign_balanced: the rank count must be >= 1 (got ", ranks, ")");
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t ca = cost_of(items[a]), cb = cost_of(items[b]);
    if (ca != cb) return ca > cb;
    return items[a].id < items[b].id;
  });
  // Min-heap of (load, rank): the least-loaded rank, the lowest on a tie.
  using Slot = std::pair<int64_t, int>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<Slot>> heap;
  for (int r = 0; r < ranks; ++r) heap.push({0, r});
  std::vector<int> owner(items.size(), 0);
  for (size_t i : order) {
    Slot s = heap.top();
    heap.pop();
    owner[i] = s.second;
    s.first += cost_of(items[i]);
    heap.push(s);
  }
  return owner;
}

std::vector<int64_t> owned_by(const std::vector<int>& owner, int rank) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < owner.size(); ++i) {
    if (owner[i] == rank) out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

std::vector<int64_t> load_per_rank(const std::vector<WorkItem>& items,
                                   const std::vector<int>& owner, int ranks) {
  std::vector<int64_t> load(static_cast<size_t>(std::max(ranks, 0)), 0);
  for (size_t i = 0; i < items.size() && i < owner.size(); ++i) {
    if (owner[i] >= 0 && owner[i] < ranks) load[static_cast<size_t>(owner[i])] += cost_of(items[i]);
  }
  return load;
}

}  // namespace xai
