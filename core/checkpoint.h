#pragma once
// Run and checkpoint directories (docs/architecture.md, "Run directory" and "Checkpoint
// directory").
//
//   out_dir/checkpoints/step-0000120/{model.safetensors, optimizer.safetensors,
//                                     state.json, config.yaml, [tokenizer.model],
//                                     [model.<format>]}
//   out_dir/checkpoints/latest   (plain file: "step-0000120", replaced by rename)
//
// A checkpoint is written into a temporary directory, every file flushed (fsync), then
// renamed into place; only then is `latest` replaced, by rename. Older checkpoints beyond
// keep_last are removed after the new one is complete.

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

#include "core/safetensors.h"

namespace strata {

struct CheckpointContents {
  NamedTensors model;      // named_parameters() then named_buffers(); may be empty
  NamedTensors optimizer;  // "<param>.exp_avg", "<param>.exp_avg_sq", ...; may be empty
  nlohmann::json state;    // state.json
  std::string config_yaml;
  // Writes extra files (tokenizer.model, a classical learner's model.<format>) into the
  // temporary directory before it is renamed into place.
  std::function<void(const std::string& dir)> write_extra;
};

class Checkpointer {
 public:
  // keep_last <= 0 keeps every checkpoint.
  Checkpointer(std::string out_dir, int64_t keep_last);

  // Writes checkpoints/step-NNNNNNN atomically; returns its directory. A checkpoint of
  // the same step (saved again after a resume) is replaced. What a killed save left
  // (checkpoints/.tmp-*) is removed first. Pruning keeps this checkpoint and the newest
  // keep_last - 1 below it; checkpoints of later steps (from before a resume to an
  // earlier step) are never pruned.
  std::string save(int64_t step, const CheckpointContents& contents);
  // The newest complete checkpoint's directory, or "" when there is none.
  std::string latest() const;

 private:
  std::string out_dir_;
  int64_t keep_last_;
};

// "step-0000120" for 120.
std::string checkpoint_name(int64_t step);
// True when out_dir/checkpoints holds any checkpoint.
bool has_checkpoints(const std::string& out_dir);
// The newest complete checkpoint of a run directory, or "" when there is none: the one
// `latest` names, or when `latest` is missing or names no complete checkpoint, the
// highest step-* directory holding a state.json.
std::string latest_checkpoint(const std::string& out_dir);
// Accepts a checkpoint directory or a run directory (then its latest checkpoint).
std::string resolve_checkpoint(const std::string& path);

// Reads and checks a checkpoint directory; a missing, truncated or damaged file is an
// InputError naming it. Absent optional files leave their fields empty.
CheckpointContents load_checkpoint(const std::string& dir);

// Writes `text` to `path` atomically (temporary file, fsync, rename).
void write_file_atomic(const std::string& path, const std::string& text);
// Writes a safetensors file (core/safetensors.h) to `path` atomically, as write_file_atomic:
// for model files outside a checkpoint directory (`strata export`).
void write_safetensors_atomic(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {});
// Parses the JSON file at `path`; a missing or damaged one is an InputError naming it.
nlohmann::json read_json_file(const std::string& path);

}  // namespace strata
