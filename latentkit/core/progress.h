#pragma once
// Progress reporting on stderr: a bar redrawn in place on a terminal, plain log lines
// (at most one every `log_every_seconds`) otherwise. Never writes to stdout.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace latentkit {

class Progress {
 public:
  /// total: number of units (steps) the work has; label: printed before the bar.
  Progress(std::string label, int64_t total, int64_t start = 0, FILE* out = stderr);
  /// Ends an unfinished bar line so that later messages start on a line of their own.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// Moves to `done` units and shows `status` (e.g. "epoch 2 d_loss 0.61 g_loss 1.2").
  /// `items_per_unit` converts units/s to items/s for the rate (e.g. images per step).
  void update(int64_t done, const std::string& status, double items_per_unit = 1.0);
  /// Ends the bar line (on a terminal) and prints a final summary line.
  void finish(const std::string& status);
  /// Whether the output is a terminal (bar) or not (plain lines).
  bool interactive() const { return interactive_; }

  /// "1:02:03", "4:05" or "12s" style duration.
  static std::string format_duration(double seconds);

 private:
  std::string label_;
  int64_t total_;
  int64_t start_;
  FILE* out_;
  bool interactive_;
  double log_every_seconds_ = 10.0;
  std::chrono::steady_clock::time_point t0_;
  std::chrono::steady_clock::time_point last_print_;
  bool printed_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  double items_per_unit_ = 1.0;
  size_t last_line_width_ = 0;

  double rate(std::chrono::steady_clock::time_point now) const;
  std::string eta_text(std::chrono::steady_clock::time_point now) const;
  void draw_bar(const std::string& status);
  void print_line(const std::string& status, std::chrono::steady_clock::time_point now);
};

}  // namespace latentkit
