#include "framework/dist/rank_watchdog.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/common/error.h"

namespace xai {

namespace fs = std::filesystem;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string this_host() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

bool pid_alive_here(long pid) {
  if (pid <= 0) return true;  // unknown: leave it to the heartbeat's age
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

// One line per field; `current` last, as it may hold anything but a newline.
std::string Heartbeat::encode() const {
  std::string cur = current;
  std::replace(cur.begin(), cur.end(), '\n', ' ');
  return str_cat("xai-heartbeat-1\n", token, "\n", pid, "\n", host, "\n", fixed(unix_time, 3), "\n",
                 done ? 1 : 0, "\n", cur, "\n");
}

std::optional<Heartbeat> Heartbeat::decode(const std::string& text) {
  std::istringstream in(text);
  std::string magic, pid, time, done;
  Heartbeat h;
  if (!std::getline(in, magic) || magic != "xai-heartbeat-1") return std::nullopt;
  if (!std::getline(in, h.token) || !std::getline(in, pid) || !std::getline(in, h.host) ||
      !std::getline(in, time) || !std::getline(in, done) || !std::getline(in, h.current)) {
    return std::nullopt;
  }
  try {
    h.pid = std::stol(pid);
    h.unix_time = std::stod(time);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  h.done = done == "1";
  return h;
}

std::string heartbeat_path(const std::string& dir, int rank) {
  char name[32];
  std::snprintf(name, sizeof(name), "rank-%05d.alive", rank);
  return (fs::path(dir) / name).string();
}

std::string judge_peer(int rank, const std::optional<Heartbeat>& beat, const std::string& my_host,
                       double now_unix, double waited, double timeout,
                       const std::function<bool(long)>& pid_alive) {
  if (!beat) {
    if (waited < timeout) return "";
    return str_cat("rank ", rank, " has posted no heartbeat in ", fixed(waited, 0),
                   " s (it did not start, or cannot write to the output folder)");
  }
  if (beat->done) return "";
  const std::string who = str_cat("rank ", rank, " (pid ", beat->pid, " on ", beat->host, ")");
  const std::string on = beat->current.empty() ? "" : str_cat(" while on sample ", beat->current);
  if (beat->host == my_host && !pid_alive(beat->pid)) return str_cat(who, " has died", on);
  const double age = now_unix - beat->unix_time;
  if (age > timeout) {
    return str_cat(who, " has sent no heartbeat for ", fixed(age, 0), " s", on,
                   " (frozen, or its node is gone)");
  }
  return "";
}

RankWatchdog::RankWatchdog(std::string dir, int rank, int size, std::string token,
                           double timeout_seconds, OnDead on_dead)
    : dir_(std::move(dir)),
      token_(std::move(token)),
      host_(this_host()),
      rank_(rank),
      size_(size),
      timeout_(timeout_seconds),
      interval_(std::clamp(timeout_seconds / 4, 0.05, 1.0)),
      on_dead_(std::move(on_dead)) {
  post(false);
  thread_ = std::thread([this] { loop(); });
}

RankWatchdog::~RankWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  try {
    post(true);
  } catch (...) {
  }
}

void RankWatchdog::set_current(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = what;
}

void RankWatchdog::post(bool done) {
  Heartbeat h;
  h.token = token_;
  h.pid = static_cast<long>(::getpid());
  h.host = host_;
  h.unix_time = unix_now();
  h.done = done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    h.current = current_;
  }
  const std::string path = heartbeat_path(dir_, rank_);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << h.encode();
    if (!f) return;  // a full disk must not kill the run; the peers' timeout still holds
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
}

void RankWatchdog::loop() {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::duration<double>(interval_), [&] { return stop_; })) {
    lock.unlock();
    post(false);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      std::optional<Heartbeat> beat;
      std::ifstream in(heartbeat_path(dir_, r));
      if (in) {
        std::stringstream ss;
        ss << in.rdbuf();
        beat = Heartbeat::decode(ss.str());
        if (beat && beat->token != token_) beat.reset();  // an earlier run's
      }
      const std::string why =
          judge_peer(r, beat, host_, unix_now(), waited, timeout_, pid_alive_here);
      if (!why.empty()) {
        on_dead_(why);
        return;
      }
    }
    lock.lock();
  }
}

}  // namespace xai
