#include "framework/run/rank_calls.h"

#include <unistd.h>

#include <ctime>

#include "framework/common/error.h"
#include "framework/dist/communicator.h"

namespace xai {

// Rank 0 runs `fn`; its error message (empty when it succeeded) and its strings reach every
// rank, and every rank throws that error, so a failure on rank 0 never leaves the others waiting.
std::vector<std::string> on_root(Communicator& comm,
                                 const std::function<std::vector<std::string>()>& fn) {
  std::string packed;
  if (comm.rank() == 0) {
    std::vector<std::string> items = {""};
    try {
      for (auto& s : fn()) items.push_back(std::move(s));
    } catch (const std::exception& e) {
      items = {e.what()};
      if (items[0].empty()) items[0] = "unknown error";
    }
    packed = pack_strings(items);
  }
  comm.broadcast(packed, 0);
  std::vector<std::string> items = unpack_strings(packed);
  XAI_CHECK(!items.empty(), "broadcast from rank 0 arrived empty");
  if (!items[0].empty()) throw CollectiveError(items[0]);
  items.erase(items.begin());
  return items;
}

// Every rank runs `fn`; if it throws on any rank, every rank throws the lowest failing rank's
// message as a CollectiveError (for checks every rank makes, such as reading the config).
void on_all(Communicator& comm, const std::function<void()>& fn) {
  if (comm.size() == 1) return fn();
  std::string error;
  try {
    fn();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  const auto all = comm.allgatherv(error);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty()) continue;
    throw CollectiveError(r == 0 ? all[r] : str_cat("rank ", r, ": ", all[r]));
  }
}

std::string hostname() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace xai
