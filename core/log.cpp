#include "core/log.h"

#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <vector>

#include "core/clock.h"

namespace strata::log {

namespace {
int g_rank = 0;
}

void set_rank(int rank) { g_rank = rank; }
int rank() { return g_rank; }

void write_line(FILE* stream, const std::string& line) {
  std::fputs(line.c_str(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
}

}  // namespace strata::log

namespace strata {

Progress::Progress(int64_t total_steps, int64_t first_step)
    : total_(total_steps),
      first_(first_step),
      tty_(isatty(fileno(stdout)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, double loss, double throughput, const char* unit) {
  if (log::rank() != 0) return;
  double elapsed = seconds_since(start_);
  double per_step = step > first_ ? elapsed / double(step - first_) : 0.0;
  double eta = per_step * double(std::max<int64_t>(0, total_ - step));
  std::string line = fmt::format("step {:>7}/{}  loss {:.4f}  {:.0f} {}/s  eta {:02}:{:02}:{:02}",
                                 step, total_, loss, throughput, unit, int(eta) / 3600,
                                 int(eta) / 60 % 60, int(eta) % 60);
  if (tty_) {
    std::fprintf(stdout, "\r%s\033[K", line.c_str());
    std::fflush(stdout);
    open_line_ = true;
  } else {
    log::write_line(stdout, line);
  }
}

void Progress::message(const std::string& line) {
  if (log::rank() != 0) return;
  if (open_line_) std::fputc('\n', stdout), open_line_ = false;
  log::write_line(stdout, line);
}

void Progress::finish() {
  if (open_line_ && log::rank() == 0) std::fputc('\n', stdout), std::fflush(stdout);
  open_line_ = false;
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_through_step) {
  if (keep_through_step >= 0 && std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::vector<std::string> kept;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (row.is_discarded()) continue;  // a line cut by a kill
      if (row.contains("step") && row["step"].get<int64_t>() > keep_through_step) continue;
      kept.push_back(line);
    }
    in.close();
    std::ofstream rewrite(path, std::ios::trunc);
    for (const auto& line : kept) rewrite << line << '\n';
  } else if (keep_through_step < 0) {
    std::ofstream truncate(path, std::ios::trunc);
  }
  out_.open(path, std::ios::app);
}

void MetricsWriter::write(const nlohmann::json& row) {
  if (!out_.is_open()) return;
  out_ << row.dump() << '\n';
  out_.flush();
}

}  // namespace strata
