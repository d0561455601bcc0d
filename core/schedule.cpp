#include "core/schedule.h"

#include <algorithm>
#include <cmath>

namespace strata {

Schedule::Schedule(ScheduleOptions options, double peak_lr, int64_t total_steps)
    : options_(std::move(options)), peak_(peak_lr), total_(std::max<int64_t>(1, total_steps)) {}

double Schedule::lr(int64_t step) const {
  const int64_t warmup = options_.warmup_steps;
  if (warmup > 0 && step < warmup) return peak_ * double(step + 1) / double(warmup);
  const double floor = peak_ * options_.min_lr_ratio;
  const double span = double(std::max<int64_t>(1, total_ - warmup));
  const double progress = std::clamp(double(step - warmup) / span, 0.0, 1.0);
  if (options_.type == "cosine") {
    return floor + (peak_ - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (options_.type == "linear") return floor + (peak_ - floor) * (1.0 - progress);
  return peak_;
}

}  // namespace strata
