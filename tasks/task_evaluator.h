#pragma once
// In-context evaluation during pre-training: a pre-training config's `eval_tasks:` section
// names tasks and shot counts, and the trainer scores them on its own cadence, so costly
// tasks need not run at every held-out-loss check.
//
//   eval_tasks:
//     tasks: [copy_words, kv_lookup]   # names (configs/tasks) or .yaml paths
//     num_fewshot: [0, 8]
//     limit: 50                        # documents per task and shot count; 0: all
//     every: 1000                      # steps; default: trainer.eval_every
//
// Logs eval/<task>/<k>shot/<metric> (a metric of a filter other than "none" is
// <metric>_<filter>) into metrics.jsonl, as `strata eval` would score the checkpoint.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/evaluator.h"
#include "tasks/evaluate.h"
#include "tasks/task.h"

namespace strata::tasks {

struct TaskEvalOptions {
  std::vector<std::string> tasks;
  std::vector<int64_t> num_fewshot = {0};
  int64_t limit = 100;
  int64_t every = 0;  // 0: the trainer's eval_every
  int64_t batch_size = 8;
  uint64_t seed = 1234;
  std::string task_dir = "configs/tasks";
  std::vector<Task> loaded;  // the tasks, read and checked by read_options
};

// Reads the section and loads every task, so a bad task file stops the run before any
// data is prepared. InputError naming the key or the task file.
void read_options(config::Reader& r, TaskEvalOptions& o);

class TaskEvaluator : public Evaluator {
 public:
  // `tokenizer_path`: the run's SentencePiece model.
  TaskEvaluator(TaskEvalOptions options, const std::string& tokenizer_path);
  // InputError when the model is not a causal LM.
  Metrics evaluate(Network& model) override;

 private:
  TaskEvalOptions options_;
  std::unique_ptr<TextCodec> codec_;
};

}  // namespace strata::tasks
