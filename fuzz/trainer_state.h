#pragma once
// The reads a resume makes of state.json, for fuzz/state_json.cpp.
//
// Trainer::resume_from (core/trainer.cpp) cannot run without a whole trainer and LibTorch,
// so its reads of the parsed state.json are repeated here, in its order and with the
// same calls, together with those of the data streams it hands "data" to
// (ImageBatches::load_state in core/data/loader.cpp, TokenShardBatches::load_state in
// core/data/token_shards.cpp). Once core/trainer.h has TrainerState::from_json(const
// nlohmann::json&, const std::string& where), the body below becomes one call to it.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace strata::fuzz {

inline void trainer_state_from_json(const nlohmann::json& s, const std::string& where) {
  (void)where;  // the reads below do not name the file; TrainerState::from_json will
  const int64_t step = s.at("step").get<int64_t>();
  const nlohmann::json& data = s.at("data");
  // An image stream's position, or a token stream's counter.
  if (data.contains("micro_batch")) {
    (void)data.at("micro_batch").get<int64_t>();
  } else {
    (void)data.at("epoch").get<int64_t>();
    (void)data.at("position").get<int64_t>();
  }
  const std::string rng = s.at("rng").at("cpu").get<std::string>();
  const double loss_sum = s.at("loss_window").at("sum").get<double>();
  const int64_t loss_count = s.at("loss_window").at("count").get<int64_t>();
  const nlohmann::json metrics = s.value("metrics", nlohmann::json::object());
  (void)step, (void)rng, (void)loss_sum, (void)loss_count, (void)metrics;
}

}  // namespace strata::fuzz
