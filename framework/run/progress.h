// Progress of long work: a bar redrawn in place on a terminal, plain periodic lines otherwise
// (logs, Slurm), each with the rate and the time left.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace xai {

class Progress {
 public:
  enum class Mode { kAuto, kBar, kLines, kOff };
  static Mode parse_mode(const std::string& s);  // auto | bar | lines | off

  // total units of work; `label` names them ("samples").
  Progress(std::ostream& out, int64_t total, std::string label, Mode mode = Mode::kAuto,
           double line_interval_s = 10.0);
  // done so far (absolute), and a short note (e.g. the current model).
  void update(int64_t done, const std::string& note = "");
  void finish(const std::string& note = "");  // the final line
  // A line of its own (a warning, a failure) in every mode, off included; a drawn bar is cleared
  // first and drawn again at the next update.
  void message(const std::string& line);

  static std::string format_duration(double seconds);  // "42s", "3m05s", "1h02m"

 private:
  std::string line(int64_t done, const std::string& note, bool bar) const;
  std::ostream& out_;
  int64_t total_;
  std::string label_;
  Mode mode_;
  double interval_;
  std::chrono::steady_clock::time_point start_, last_;
  int64_t start_done_ = -1;  // the first update's count (resumed work is not counted in the rate)
  bool drawn_ = false;
};

}  // namespace xai
