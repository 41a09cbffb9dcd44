#include "framework/run/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "framework/common/error.h"

namespace xai {

Progress::Mode Progress::parse_mode(const std::string& s) {
  if (s == "auto") return Mode::kAuto;
  if (s == "bar") return Mode::kBar;
  if (s == "lines") return Mode::kLines;
  if (s == "off") return Mode::kOff;
  throw Error("progress must be auto, bar, lines or off (got '" + s + "')");
}

Progress::Progress(std::ostream& out, int64_t total, std::string label, Mode mode,
                   double line_interval_s)
    : out_(out), total_(total), label_(std::move(label)), mode_(mode), interval_(line_interval_s) {
  if (mode_ == Mode::kAuto) {
    const bool tty = (&out == &std::cerr && ::isatty(2)) || (&out == &std::cout && ::isatty(1));
    mode_ = tty ? Mode::kBar : Mode::kLines;
  }
  start_ = last_ = std::chrono::steady_clock::now();
}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long long t = static_cast<long long>(std::llround(s));
  if (t < 60) {
    std::snprintf(buf, sizeof(buf), "%llds", t);
  } else if (t < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", t / 3600, (t % 3600) / 60);
  }
  return buf;
}

std::string Progress::line(int64_t done, const std::string& note, bool bar) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t counted = done - std::max<int64_t>(start_done_, 0);
  const double rate = elapsed > 0 ? static_cast<double>(counted) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  char buf[256];
  std::string out;
  if (bar) {
    const int width = 28;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    out = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  }
  std::snprintf(buf, sizeof(buf), "%lld/%lld %s (%.0f%%)  %.2f %s/s  ETA %s",
                static_cast<long long>(done), static_cast<long long>(total_), label_.c_str(),
                total_ > 0 ? 100.0 * done / total_ : 100.0, rate, label_.c_str(),
                format_duration(eta).c_str());
  out += buf;
  if (!note.empty()) out += "  " + note;
  return out;
}

void Progress::update(int64_t done, const std::string& note) {
  if (start_done_ < 0) start_done_ = done;
  if (mode_ == Mode::kOff) return;
  const auto now = std::chrono::steady_clock::now();
  if (mode_ == Mode::kBar) {
    if (std::chrono::duration<double>(now - last_).count() < 0.1 && done < total_) return;
    out_ << "\r" << line(done, note, true) << "\033[K" << std::flush;
    drawn_ = true;
  } else {
    if (std::chrono::duration<double>(now - last_).count() < interval_) return;
    out_ << "progress: " << line(done, note, false) << "\n" << std::flush;
  }
  last_ = now;
}

void Progress::message(const std::string& text) {
  if (drawn_) out_ << "\r\033[K";
  out_ << text << "\n" << std::flush;
  if (drawn_) last_ = std::chrono::steady_clock::time_point{};  // redraw at the next update
  drawn_ = false;
}

void Progress::finish(const std::string& note) {
  if (mode_ == Mode::kOff) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (drawn_) out_ << "\r\033[K";
  out_ << (mode_ == Mode::kBar ? "" : "progress: ") << "done in " << format_duration(elapsed)
       << (note.empty() ? "" : ": " + note) << "\n"
       << std::flush;
}

}  // namespace xai
