// Rank death: the verdict on a peer as a pure function, and real watchdogs noticing a process
// that was SIGKILLed (at once, same host) or SIGSTOPped (after the timeout), naming its rank and
// the sample it was on; a rank that ended normally is never reported.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "framework/dist/rank_watchdog.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::TempDir;

Heartbeat beat(const std::string& host, double t, bool done = false) {
  Heartbeat h;
  h.token = "run";
  h.pid = 812;
  h.host = host;
  h.unix_time = t;
  h.done = done;
  h.current = "gpt2/q17";
  return h;
}

const auto kAlive = [](long) { return true; };
const auto kGone = [](long) { return false; };

TEST(RankWatchdog, HeartbeatRoundTripsAndRejectsDamage) {
  const Heartbeat h = beat("node3", 1234.5);
  const auto back = Heartbeat::decode(h.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->pid, 812);
  EXPECT_EQ(back->host, "node3");
  EXPECT_EQ(back->current, "gpt2/q17");
  EXPECT_DOUBLE_EQ(back->unix_time, 1234.5);
  EXPECT_FALSE(Heartbeat::decode("xai-heartbeat-1\nrun\n").has_value());
  EXPECT_FALSE(Heartbeat::decode("junk").has_value());
}

TEST(RankWatchdog, JudgesDeadFrozenMissingAndFinishedPeers) {
  // A fresh heartbeat of a live process: fine.
  EXPECT_EQ(judge_peer(1, beat("h", 100), "h", 101, 5, 60, kAlive), "");
  // Same host, process gone: reported at once, with the sample it was on.
  EXPECT_EQ(judge_peer(1, beat("h", 100), "h", 101, 5, 60, kGone),
            "rank 1 (pid 812 on h) has died while on sample gpt2/q17");
  // Another host: pids mean nothing here, only the heartbeat's age counts.
  EXPECT_EQ(judge_peer(2, beat("other", 100), "h", 101, 5, 60, kGone), "");
  EXPECT_EQ(judge_peer(2, beat("other", 100), "h", 170, 80, 60, kAlive),
            "rank 2 (pid 812 on other) has sent no heartbeat for 70 s while on sample gpt2/q17 "
            "(frozen, or its node is gone)");
  // Ended normally: never reported, even long after and with its process gone.
  EXPECT_EQ(judge_peer(1, beat("h", 100, true), "h", 1000, 900, 60, kGone), "");
  // Never posted: fine until the timeout, then reported.
  EXPECT_EQ(judge_peer(3, std::nullopt, "h", 0, 59, 60, kAlive), "");
  EXPECT_NE(judge_peer(3, std::nullopt, "h", 0, 61, 60, kAlive)
                .find("rank 3 has posted no heartbeat in 61 s"),
            std::string::npos);
}

// Runs rank 1's watchdog in a child process (which then just waits) and returns its pid once its
// first heartbeat is on disk.
pid_t start_peer(const std::string& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    {
      RankWatchdog peer(dir, 1, 2, "tok", 3600, [](const std::string&) {});
      peer.set_current("toy/s7");
      for (;;) ::pause();
    }
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(heartbeat_path(dir, 1)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pid;
}

struct Verdict {
  std::mutex mu;
  std::string why;
  std::string wait_for(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!why.empty()) return why;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }
};

TEST(RankWatchdog, AKilledPeerIsReportedWithinSeconds) {
  TempDir dir;
  const pid_t peer = start_peer(dir.path());
  ASSERT_GT(peer, 0);
  Verdict v;
  RankWatchdog me(dir.path(), 0, 2, "tok", 3600, [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(v.mu);
    v.why = why;
  });
  EXPECT_EQ(v.wait_for(1.5), "");  // alive: nothing to report
  ::kill(peer, SIGKILL);
  ::waitpid(peer, nullptr, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string why = v.wait_for(10);
  EXPECT_NE(why.find("rank 1 (pid " + std::to_string(peer)), std::string::npos) << why;
  EXPECT_NE(why.find("has died while on sample toy/s7"), std::string::npos) << why;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
}

TEST(RankWatchdog, AFrozenPeerIsReportedAfterTheTimeout) {
  TempDir dir;
  const pid_t peer = start_peer(dir.path());
  ASSERT_GT(peer, 0);
  ::kill(peer, SIGSTOP);
  Verdict v;
  {
    RankWatchdog me(dir.path(), 0, 2, "tok", 1.0, [&](const std::string& why) {
      std::lock_guard<std::mutex> lock(v.mu);
      v.why = why;
    });
    const std::string why = v.wait_for(10);
    EXPECT_NE(why.find("rank 1 (pid " + std::to_string(peer)), std::string::npos) << why;
    EXPECT_NE(why.find("has sent no heartbeat for"), std::string::npos) << why;
  }
  ::kill(peer, SIGKILL);
  ::waitpid(peer, nullptr, 0);
}

TEST(RankWatchdog, APeerThatEndedNormallyIsNotReported) {
  TempDir dir;
  Verdict v;
  {
    RankWatchdog peer(dir.path(), 1, 2, "tok", 0.4, [](const std::string&) {});
  }  // posts done
  RankWatchdog me(dir.path(), 0, 2, "tok", 0.4, [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(v.mu);
    v.why = why;
  });
  EXPECT_EQ(v.wait_for(1.5), "");
  // A heartbeat of another run (other token) counts as none: reported once the timeout passes.
  RankWatchdog other(dir.path(), 0, 2, "other-run", 0.4, [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(v.mu);
    v.why = why;
  });
  EXPECT_NE(v.wait_for(5).find("rank 1 has posted no heartbeat"), std::string::npos);
}

}  // namespace
}  // namespace xai
