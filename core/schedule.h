#pragma once
// Learning-rate schedules: linear warmup, then cosine, linear or constant decay.

#include <cstdint>
#include <string>

namespace strata {

struct ScheduleOptions {
  std::string type = "constant";  // constant | cosine | linear
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;      // the floor, as a fraction of the peak rate
};

class Schedule {
 public:
  Schedule(ScheduleOptions options, double peak_lr, int64_t total_steps);
  // The rate for optimizer step `step` (0-based).
  double lr(int64_t step) const;
  const ScheduleOptions& options() const { return options_; }

 private:
  ScheduleOptions options_;
  double peak_;
  int64_t total_;
};

}  // namespace strata
