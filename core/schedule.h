#pragma once
// Learning-rate schedules: linear warmup, then cosine, linear or constant decay.

#include <cstdint>
#include <string>

#include "core/config.h"

namespace strata {

enum class ScheduleType {
  kConstant,  // the peak rate after warmup
  kCosine,    // half a cosine from the peak down to the floor (Loshchilov & Hutter 2017)
  kLinear,    // a straight line from the peak down to the floor
};
const config::EnumNames<ScheduleType>& schedule_type_names();  // constant, cosine, linear

struct ScheduleOptions {
  ScheduleType type = ScheduleType::kConstant;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;  // the floor, as a fraction of the peak rate
};

// `schedule:` {type, warmup_steps, min_lr_ratio}; finishes the section.
void read_options(config::Reader r, ScheduleOptions& o);

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
