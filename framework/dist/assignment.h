// Which rank computes which sample. Work is balanced by cost (the sample's token count): the
// costliest items are dealt first, each to the least-loaded rank (ties: the lowest rank), items
// of equal cost in order of their id. Every rank computes the same answer from the same inputs,
// with no communication. The rank count decides only who computes an item, never whether or how:
// the set of computed items is the set given, so a resumed run with another rank count computes
// exactly the items that are not done yet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xai {

struct WorkItem {
  std::string id;    // stable key (the sample id); ties of cost are broken by it
  int64_t cost = 1;  // e.g. the number of tokens; values < 1 count as 1
};

// owner[i]: the rank (0 .. ranks-1) that computes items[i]. Two items with the same id and cost
// go in their input order. Throws xai::Error for ranks < 1.
std::vector<int> assign_balanced(const std::vector<WorkItem>& items, int ranks);

// The indices of items[] owned by `rank`, ascending.
std::vector<int64_t> owned_by(const std::vector<int>& owner, int rank);

// Total cost per rank (for logs and tests).
std::vector<int64_t> load_per_rank(const std::vector<WorkItem>& items,
                                   const std::vector<int>& owner, int ranks);

}  // namespace xai
