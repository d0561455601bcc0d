#include "core/schedule.h"

#include <algorithm>
#include <cmath>

namespace strata {

const config::EnumNames<ScheduleType>& schedule_type_names() {
  static const config::EnumNames<ScheduleType> names = {{"constant", ScheduleType::kConstant},
                                                        {"cosine", ScheduleType::kCosine},
                                                        {"linear", ScheduleType::kLinear}};
  return names;
}

void read_options(config::Reader r, ScheduleOptions& o) {
  r.read_enum("type", o.type, schedule_type_names());
  r.read("warmup_steps", o.warmup_steps, config::Range::non_negative());
  r.read("min_lr_ratio", o.min_lr_ratio, config::Range::between(0, 1));
  r.finish();
}

Schedule::Schedule(ScheduleOptions options, double peak_lr, int64_t total_steps)
    : options_(std::move(options)), peak_(peak_lr), total_(std::max<int64_t>(1, total_steps)) {}

double Schedule::lr(int64_t step) const {
  const int64_t warmup = options_.warmup_steps;
  if (warmup > 0 && step < warmup) return peak_ * double(step + 1) / double(warmup);
  const double floor = peak_ * options_.min_lr_ratio;
  const double span = double(std::max<int64_t>(1, total_ - warmup));
  const double progress = std::clamp(double(step - warmup) / span, 0.0, 1.0);
  switch (options_.type) {
    case ScheduleType::kCosine:
      return floor + (peak_ - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
    case ScheduleType::kLinear:
      return floor + (peak_ - floor) * (1.0 - progress);
    case ScheduleType::kConstant:
      break;
  }
  return peak_;
}

}  // namespace strata
