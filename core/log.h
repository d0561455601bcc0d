#pragma once
// Logging (fmt), a progress line, and the metrics.jsonl writer.
//
// Only rank 0 of a data-parallel run prints and writes; the others stay silent.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace strata::log {

// Set once at start-up by the distributed setup; ranks other than 0 print nothing.
void set_rank(int rank);
int rank();

void write_line(FILE* stream, const std::string& line);

template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (rank() == 0) write_line(stdout, fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  if (rank() == 0) write_line(stderr, "warning: " + fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace strata::log

namespace strata {

// One line per logged step: rewritten in place on a terminal (step, loss, throughput,
// ETA), plain lines otherwise so logs stay readable.
class Progress {
 public:
  Progress(int64_t total_steps, int64_t first_step);
  void update(int64_t step, double loss, double throughput, const char* unit);
  void message(const std::string& line);  // ends the in-place line first
  void finish();

 private:
  int64_t total_;
  int64_t first_;
  bool tty_;
  bool open_line_ = false;
  std::chrono::steady_clock::time_point start_;
};

// Appends one JSON object per line to out_dir/metrics.jsonl. Opened for a resumed run, it
// first drops rows past the checkpoint's step so that each step appears once.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  MetricsWriter(const std::string& path, int64_t keep_through_step);
  void write(const nlohmann::json& row);
  bool is_open() const { return out_.is_open(); }

 private:
  std::ofstream out_;
};

}  // namespace strata
