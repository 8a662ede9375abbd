// unitsface-eval: a progress bar on stderr for long reads and long scoring. It appears only when
// stderr is a terminal (a log file should not fill with carriage returns) and only for long
// work: a read of more than 10 million lines, estimated from the file's size and the bytes per
// line read so far, or scoring the caller judges long; ordinary inputs print nothing.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>

namespace unitsface::eval {

class progress_bar {
 public:
  /// `total_bytes`: the input's size (0 when unknown: the bar then shows the line count only).
  explicit progress_bar(std::uint64_t total_bytes)
      : total_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1) {}
  /// A bar for `total` units of work (rows scored), labelled `label`; `long_work`: whether the
  /// work is long enough to show it at all.
  progress_bar(const char* label, std::uint64_t total, bool long_work)
      : total_(total), enabled_(long_work && isatty(STDERR_FILENO) == 1), label_(label) {}
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar() { finish(); }

  /// A read: `lines` and `bytes` read so far. Work: `update(done, done)`.
  void update(std::uint64_t lines, std::uint64_t bytes) {
    if (!enabled_ || bytes == 0) return;
    if (!shown_ && label_ == nullptr) {
      const bool long_input =
          total_ > 0 ? double(total_) / double(bytes) * double(lines) > double(threshold_lines)
                     : lines > threshold_lines;
      if (!long_input) return;
    }
    shown_ = true;
    lines_ = lines;
    constexpr int width = 40;
    if (total_ > 0) {
      const double f = bytes >= total_ ? 1.0 : double(bytes) / double(total_);
      const int filled = int(f * width);
      char bar[width + 1];
      for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
      bar[width] = 0;
      std::fprintf(stderr, "\r%s [%s] %5.1f%%  %llu %s", label_ ? label_ : "reading", bar,
                   100.0 * f, static_cast<unsigned long long>(lines), label_ ? "rows" : "lines");
    } else {
      std::fprintf(stderr, "\rreading %llu lines", static_cast<unsigned long long>(lines));
    }
    std::fflush(stderr);
  }
  /// Ends the bar's line, so that what follows starts on a fresh one.
  void finish() {
    if (!shown_) return;
    if (total_ > 0) update(label_ ? total_ : lines_, total_);  // the work is complete: 100%
    std::fputc('\n', stderr);
    shown_ = false;
  }

  static constexpr std::uint64_t threshold_lines = 10'000'000;

 private:
  std::uint64_t total_ = 0;
  bool enabled_ = false;
  const char* label_ = nullptr;  ///< null: a read, shown once it looks long
  bool shown_ = false;
  std::uint64_t lines_ = 0;
};

}  // namespace unitsface::eval
