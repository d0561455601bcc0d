#pragma once
// `strata eval`: a checkpoint against tasks, a printed table, and a results file in
// lm-evaluation-harness's layout (docs/architecture.md, "Eval results file").

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/config.h"
#include "tasks/evaluate.h"

namespace strata::tasks {

struct EvalRunOptions {
  std::string model;               // a checkpoint or run directory
  std::vector<std::string> tasks;  // names (looked up in task_dir) or .yaml paths
  int64_t num_fewshot = -1;        // -1: each task's own
  int64_t limit = 0;               // 0: every document
  int64_t batch_size = 8;
  uint64_t seed = 1234;
  std::string out;                 // "": eval/<timestamp>.json in the run directory
  int64_t threads = 0;             // 0: every usable core
  std::string task_dir = "configs/tasks";
  bool reuse_prefix = true;   // EvalOptions::reuse_prefix
  bool share_context = true;  // EvalOptions::share_context
  // Per task, the harness's samples_<task>_<date>.jsonl beside the results file
  // (TaskResult::samples).
  bool log_samples = false;
};

// The keys of an eval CONFIG file: model, tasks, num_fewshot, limit, batch_size, seed, out,
// threads, task_dir, reuse_prefix, share_context, log_samples (relative paths against the
// file).
void read_options(config::Reader& r, EvalRunOptions& options);

// What the results file says about the run besides the tasks.
struct RunInfo {
  std::string model;  // the checkpoint path
  int64_t model_num_parameters = 0;
  uint64_t seed = 0;
  int64_t batch_size = 0;
  int64_t limit = 0;  // 0 is written as null, as the harness writes no limit
  std::string git_hash;
  double date = 0;    // seconds since the epoch
  double evaluation_seconds = 0;  // written as the harness's total_evaluation_time_seconds
};

// results[TASK]["acc,none"], ["acc_stderr,none"], n-shot, n-samples, versions, configs,
// higher_is_better, config, git_hash, date, and left_truncated[TASK] (prompts cut on the
// left). An undefined stderr is "N/A", as the harness writes it.
nlohmann::json results_json(const std::vector<TaskResult>& results, const RunInfo& info);

// One metric of one task in a results file.
struct ResultRow {
  std::string task, metric, filter;  // "acc", "none"
  double value = 0;
  double stderr_value = std::numeric_limits<double>::quiet_NaN();  // NaN: undefined ("N/A")
};

// Every numeric "metric,filter" of every task of a results file in the harness's layout
// (Strata's, or lm_eval's own results_<date>.json), with its "metric_stderr,filter". A
// file without a "results" object is an InputError naming `path`.
std::vector<ResultRow> read_results(const nlohmann::json& results, const std::string& path);

// The harness's Markdown table: Tasks, Version, Filter, n-shot, Metric, Value, Stderr.
std::string results_table(const std::vector<TaskResult>& results);

// Loads the checkpoint (models::load_network and its tokenizer.model), runs every task,
// prints the table and writes the results file (and the samples files with log_samples).
// Returns the results file's path. Bad input
// (checkpoint, task, arguments) is an InputError.
std::string run_eval(const EvalRunOptions& options);

}  // namespace strata::tasks
