#include "framework/dist/progress_board.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "framework/common/error.h"

namespace xai {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBoard::ProgressBoard(std::string shards_dir, int rank, int world_size, double interval_s)
    : dir_(std::move(shards_dir)), rank_(rank), size_(world_size), interval_(interval_s) {}

std::string ProgressBoard::path(const std::string& shards_dir, int rank) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "rank-%05d.progress", rank);
  return (std::filesystem::path(shards_dir) / buf).string();
}

void ProgressBoard::post(int64_t done, int64_t total, bool finished, bool force) {
  const double t = now_s();
  if (!force && !finished && t - last_post_ < interval_) return;
  last_post_ = t;
  const std::string p = path(dir_, rank_), tmp = p + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << done << " " << total << " " << (finished ? 1 : 0) << "\n";
    out.close();
    XAI_CHECK(out.good(), tmp, ": cannot write this rank's progress (is the output folder ",
              "writable and shared by all ranks?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, p, ec);
  XAI_CHECK(!ec, p, ": cannot write this rank's progress: ", ec.message());
}

std::vector<RankProgress> ProgressBoard::read() const {
  std::vector<RankProgress> out(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    std::ifstream in(path(dir_, r));
    RankProgress p;
    int finished = 0;
    if (in >> p.done >> p.total >> finished) {
      p.finished = finished != 0;
      p.seen = true;
      out[static_cast<size_t>(r)] = p;
    }
  }
  return out;
}

void ProgressBoard::remove() const {
  std::error_code ec;
  std::filesystem::remove(path(dir_, rank_), ec);
}

}  // namespace xai
