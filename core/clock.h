#pragma once
// Wall time for what a run reports about itself (fit, predict and eval seconds, benches).

#include <chrono>

namespace strata {

// Seconds (as a double) on the steady clock since `t0`, a std::chrono::steady_clock::now().
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace strata
