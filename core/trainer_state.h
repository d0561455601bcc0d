#pragma once
// A checkpoint's state.json: everything the trainer saves besides tensors, written by one
// to_json and read by one from_json, so that whatever is saved is restored.
//
// No LibTorch here: the reader of a file that comes from other people is fuzzed on its own
// (fuzz/state_json.cpp).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/schedule.h"

namespace strata {

// Everything state.json holds. One to_json and one from_json, so that whatever is saved
// is restored.
struct TrainerState {
  int64_t step = 0;      // optimizer steps taken
  std::string cpu_rng;   // the CPU generator's state, hex
  nlohmann::json data;   // the BatchSource's position (BatchSource::state())
  double lr = 0.0;       // the rate of the last step
  ScheduleOptions schedule;
  int64_t total_steps = 0;
  nlohmann::json optimizer = nlohmann::json::object();  // Optimizer::groups_json()
  std::vector<std::string> frozen;                      // parameters not trained at `step`
  nlohmann::json freeze_policy;                         // FreezePolicy::state(); null: none
  double loss_sum = 0.0;  // the loss since the last metrics row, so a resumed run logs
  int64_t loss_count = 0;  // the same rows
  nlohmann::json metrics = nlohmann::json::object();  // eval rows so far, by step

  nlohmann::json to_json() const;
  // A missing or mistyped field is an InputError naming `where` and the field.
  static TrainerState from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace strata
