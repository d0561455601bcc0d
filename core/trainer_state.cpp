#include "core/trainer_state.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/json_input.h"

namespace strata {

nlohmann::json TrainerState::to_json() const {
  return {{"step", step},
          {"rng", {{"cpu", cpu_rng}}},
          {"data", data},
          {"schedule",
           {{"type", config::enum_name(schedule.type, schedule_type_names())},
            {"warmup_steps", schedule.warmup_steps},
            {"min_lr_ratio", schedule.min_lr_ratio},
            {"total_steps", total_steps},
            {"lr", lr}}},
          {"optimizer", optimizer},
          {"freeze", {{"frozen", frozen}, {"policy", freeze_policy}}},
          {"loss_window", {{"sum", loss_sum}, {"count", loss_count}}},
          {"metrics", metrics}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j, const std::string& where) {
  auto field = [&](const nlohmann::json& parent, const char* key,
                   const std::string& path) -> const nlohmann::json& {
    if (!parent.is_object() || !parent.contains(key)) {
      throw InputError(fmt::format("{}: no '{}'", where, path));
    }
    return parent.at(key);
  };
  TrainerState s;
  try {
    s.step = json_int64(field(j, "step", "step"), where, "step");
    s.cpu_rng = field(field(j, "rng", "rng"), "cpu", "rng.cpu").get<std::string>();
    s.data = field(j, "data", "data");
    const auto& schedule = field(j, "schedule", "schedule");
    const std::string type = field(schedule, "type", "schedule.type").get<std::string>();
    bool known = false;
    for (const auto& [name, value] : schedule_type_names()) {
      if (name == type) s.schedule.type = value, known = true;
    }
    if (!known) throw InputError(fmt::format("{}: unknown schedule.type '{}'", where, type));
    s.schedule.warmup_steps = json_int64(field(schedule, "warmup_steps", "schedule.warmup_steps"), where, "schedule.warmup_steps");
    s.schedule.min_lr_ratio = schedule.value("min_lr_ratio", 0.0);
    s.total_steps = json_int64(field(schedule, "total_steps", "schedule.total_steps"), where, "schedule.total_steps");
    s.lr = field(schedule, "lr", "schedule.lr").get<double>();
    s.optimizer = field(j, "optimizer", "optimizer");
    const auto& freeze = field(j, "freeze", "freeze");
    s.frozen = field(freeze, "frozen", "freeze.frozen").get<std::vector<std::string>>();
    s.freeze_policy = freeze.value("policy", nlohmann::json());
    const auto& window = field(j, "loss_window", "loss_window");
    s.loss_sum = field(window, "sum", "loss_window.sum").get<double>();
    s.loss_count = json_int64(field(window, "count", "loss_window.count"), where, "loss_window.count");
    s.metrics = j.value("metrics", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: a field has the wrong type ({})", where, e.what()));
  }
  if (s.cpu_rng.size() % 2 != 0 ||
      s.cpu_rng.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw InputError(fmt::format("{}: rng.cpu is not a hex string", where));
  }
  return s;
}

}  // namespace strata
