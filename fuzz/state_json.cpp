// libFuzzer target: a checkpoint's state.json read as a resume reads it.
//
// The function under test is read_state() below: the parse load_checkpoint does
// (core/checkpoint.cpp: parse_json_input, then "a JSON object"), followed by
// TrainerState::from_json (core/trainer_state.h), the one reader of state.json that a
// resume uses. (The "data" entry goes on to the batch stream's load_state, which needs
// LibTorch and is not fuzzed here.)
//
// Contract: a damaged state.json is an InputError naming it; any other exception, a
// crash or a hang is a finding.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/json_input.h"
#include "core/trainer_state.h"

namespace {

void read_state(const std::string& text) {
  const std::string where = "checkpoints/step-0000010/state.json";
  const nlohmann::json state = strata::parse_json_input(text, where, "a JSON file");
  if (!state.is_object()) throw strata::InputError(where + ": damaged: not a JSON object");
  strata::TrainerState::from_json(state, where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    read_state(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const strata::InputError&) {
  }
  return 0;
}
