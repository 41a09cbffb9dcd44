// Calls made on one rank or on all, whose errors reach every rank, so a failure never leaves the
// other ranks waiting in a collective. Internal to framework/run.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace xai {

class Communicator;

// Rank 0 runs `fn`; its error message (empty when it succeeded) and its strings reach every
// rank, and every rank throws that error as a CollectiveError.
std::vector<std::string> on_root(Communicator& comm,
                                 const std::function<std::vector<std::string>()>& fn);

// Every rank runs `fn`; if it throws on any rank, every rank throws the lowest failing rank's
// message as a CollectiveError (for checks every rank makes, such as reading the config).
void on_all(Communicator& comm, const std::function<void()>& fn);

std::string hostname();
std::string utc_now();  // "2026-12-06T15:04:07Z"

}  // namespace xai
