#include "latentkit/core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace latentkit {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kRedrawSeconds = 0.1;
constexpr int kBarWidth = 20;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), pattern, value);
  return buffer;
}

int terminal_columns(FILE* out) {
  winsize size{};
  if (::ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 0;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, int64_t start, FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 0)),
      start_(start),
      out_(out),
      interactive_(out != nullptr && ::isatty(fileno(out)) == 1),
      t0_(Clock::now()),
      last_print_(t0_),
      done_(start) {}

Progress::~Progress() {
  if (interactive_ && printed_ && !finished_ && out_ != nullptr) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

double Progress::rate(Clock::time_point now) const {
  double elapsed = seconds_between(t0_, now);
  if (elapsed <= 0.0 || done_ <= start_) return 0.0;
  return static_cast<double>(done_ - start_) / elapsed;
}

std::string Progress::eta_text(Clock::time_point now) const {
  double units_per_second = rate(now);
  if (units_per_second <= 0.0) return "?";
  return format_duration(static_cast<double>(std::max<int64_t>(total_ - done_, 0)) / units_per_second);
}

void Progress::draw_bar(const std::string& status) {
  Clock::time_point now = Clock::now();
  int percent = total_ > 0 ? static_cast<int>(100 * std::clamp<int64_t>(done_, 0, total_) / total_) : 0;
  int filled = total_ > 0 ? static_cast<int>(kBarWidth * std::clamp<int64_t>(done_, 0, total_) / total_) : 0;
  std::string line = label_ + " [" + std::string(static_cast<size_t>(filled), '#') +
                     std::string(static_cast<size_t>(kBarWidth - filled), '.') + "] " +
                     std::to_string(percent) + "% " + std::to_string(done_) + "/" +
                     std::to_string(total_) + " | " +
                     format("%.1f", rate(now) * items_per_unit_) + " img/s | ETA " + eta_text(now);
  if (!status.empty()) line += " | " + status;
  int columns = terminal_columns(out_);
  if (columns > 1 && line.size() >= static_cast<size_t>(columns)) {
    line.resize(static_cast<size_t>(columns - 1));
  }
  size_t width = line.size();
  if (width < last_line_width_) line.append(last_line_width_ - width, ' ');
  last_line_width_ = width;
  std::fprintf(out_, "\r%s", line.c_str());
  std::fflush(out_);
}

void Progress::print_line(const std::string& status, Clock::time_point now) {
  int percent = total_ > 0 ? static_cast<int>(100 * std::clamp<int64_t>(done_, 0, total_) / total_) : 0;
  std::string line = label_ + " " + std::to_string(done_) + "/" + std::to_string(total_) + " (" +
                     std::to_string(percent) + "%) " +
                     format("%.1f", rate(now) * items_per_unit_) + " img/s eta " + eta_text(now);
  if (!status.empty()) line += " " + status;
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::update(int64_t done, const std::string& status, double items_per_unit) {
  if (out_ == nullptr) return;
  done_ = done;
  items_per_unit_ = items_per_unit;
  Clock::time_point now = Clock::now();
  double since_print = seconds_between(last_print_, now);
  bool at_end = total_ > 0 && done >= total_;
  if (interactive_) {
    if (printed_ && since_print < kRedrawSeconds && !at_end) return;
    draw_bar(status);
  } else {
    if (printed_ && since_print < log_every_seconds_) return;
    print_line(status, now);
  }
  printed_ = true;
  last_print_ = now;
}

void Progress::finish(const std::string& status) {
  if (out_ == nullptr || finished_) return;
  Clock::time_point now = Clock::now();
  if (interactive_ && printed_) {
    draw_bar(status);
    std::fputc('\n', out_);
  }
  double elapsed = seconds_between(t0_, now);
  std::string line = label_ + " done " + std::to_string(done_) + "/" + std::to_string(total_) +
                     " in " + format_duration(elapsed) + " (" +
                     format("%.1f", rate(now) * items_per_unit_) + " img/s)";
  if (!status.empty()) line += " " + status;
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
  finished_ = true;
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  if (seconds >= 1e9) return ">30y";
  int64_t total = std::llround(seconds);
  int64_t hours = total / 3600;
  int64_t minutes = total / 60 % 60;
  int64_t secs = total % 60;
  char buffer[64];
  if (hours > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", static_cast<long long>(hours),
                  static_cast<long long>(minutes), static_cast<long long>(secs));
  } else if (minutes > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld", static_cast<long long>(minutes),
                  static_cast<long long>(secs));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%llds", static_cast<long long>(secs));
  }
  return buffer;
}

}  // namespace latentkit
