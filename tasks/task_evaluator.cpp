#include "tasks/task_evaluator.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/tokenizer.h"

namespace strata::tasks {

void read_options(config::Reader& r, TaskEvalOptions& o) {
  r.require("tasks");
  r.read_one_or_list("tasks", o.tasks);
  if (r.is_list("num_fewshot")) {
    r.read("num_fewshot", o.num_fewshot);
  } else if (r.has("num_fewshot")) {
    int64_t k = 0;
    r.read("num_fewshot", k, config::Range::non_negative());
    o.num_fewshot = {k};
  }
  if (o.tasks.empty()) r.fail("tasks", "must name at least one task");
  if (o.num_fewshot.empty()) r.fail("num_fewshot", "must list at least one shot count");
  for (int64_t k : o.num_fewshot) {
    if (k < 0) r.fail("num_fewshot", "must list shot counts of 0 or more");
  }
  r.read("limit", o.limit, config::Range::non_negative());
  r.read("every", o.every, config::Range::non_negative());
  r.read("batch_size", o.batch_size, config::Range::at_least(1));
  r.read("task_dir", o.task_dir);
  r.finish();
  o.loaded.clear();
  for (const auto& t : o.tasks) o.loaded.push_back(Task::load(find_task_file(t, o.task_dir)));
}

TaskEvaluator::TaskEvaluator(TaskEvalOptions options, const std::string& tokenizer_path)
    : options_(std::move(options)), codec_(tokenizer_codec(Tokenizer::load(tokenizer_path))) {}

Metrics TaskEvaluator::evaluate(Network& model) {
  CausalLM* lm = model.causal_lm();
  if (lm == nullptr) throw InputError("eval_tasks: in-context tasks need a causal LM (model.type gpt)");
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  Metrics out;
  EvalOptions eo;
  eo.limit = options_.limit;
  eo.batch_size = options_.batch_size;
  eo.seed = options_.seed;
  for (const auto& task : options_.loaded) {
    for (int64_t k : options_.num_fewshot) {
      eo.num_fewshot = k;
      const TaskResult r = evaluate_task(task, *lm, *codec_, eo);
      for (const auto& m : r.metrics) {
        const std::string name = m.filter == "none" ? m.metric : m.metric + "_" + m.filter;
        out[fmt::format("eval/{}/{}shot/{}", r.task, k, name)] = m.value;
      }
    }
  }
  model.train(was_training);
  return out;
}

}  // namespace strata::tasks
