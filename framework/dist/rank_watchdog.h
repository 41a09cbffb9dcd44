// RankWatchdog: notices a rank that died or froze, so the others stop with a message naming it
// instead of waiting forever in a collective. Each rank's thread rewrites its heartbeat file
// (DIR/rank-XXXXX.alive: pid, host, time, the sample it is on) every `interval` and reads the
// others'. A peer is reported when its process is gone (same host: kill(pid, 0)), when its
// heartbeat is older than `timeout` (any host: a frozen process, a lost node), or when it never
// posted one within `timeout`. A rank that ends normally posts "done" and is never reported.
// MPI-free (files on the run's shared output folder), so it is unit-tested without a launcher.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace xai {

struct Heartbeat {
  std::string token;  // the run's (rank 0 draws it), so files of an earlier run are ignored
  long pid = 0;
  std::string host;
  double unix_time = 0;  // when it was written
  bool done = false;     // the rank ended normally
  std::string current;   // what it was working on ("model/sample"), may be empty

  std::string encode() const;
  static std::optional<Heartbeat> decode(const std::string& text);  // nullopt when damaged
};

std::string heartbeat_path(const std::string& dir, int rank);  // DIR/rank-00003.alive

// The verdict on one peer, as a pure function: empty when it looks alive, else why not, e.g.
// "rank 1 (pid 812 on node3) has died while on sample gpt2/q17". `beat` is its heartbeat if one
// of this run was read; `pid_alive` answers for pids on this host; `waited` is how long this
// watchdog has been running.
std::string judge_peer(int rank, const std::optional<Heartbeat>& beat, const std::string& my_host,
                       double now_unix, double waited, double timeout,
                       const std::function<bool(long)>& pid_alive);

class RankWatchdog {
 public:
  using OnDead = std::function<void(const std::string& why)>;
  // Starts the thread. `on_dead` runs on it (once) with judge_peer's verdict on the first peer
  // found dead; xai run prints it and ends the process.
  RankWatchdog(std::string dir, int rank, int size, std::string token, double timeout_seconds,
               OnDead on_dead);
  ~RankWatchdog();  // posts "done" and stops the thread
  RankWatchdog(const RankWatchdog&) = delete;
  RankWatchdog& operator=(const RankWatchdog&) = delete;

  void set_current(const std::string& what);  // the sample this rank is on ("" = none)

 private:
  void loop();
  void post(bool done);

  std::string dir_, token_, host_, current_;
  int rank_, size_;
  double timeout_, interval_;
  OnDead on_dead_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace xai
