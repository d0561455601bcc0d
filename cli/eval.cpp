#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/config.h"
#include "tasks/eval_run.h"

namespace strata::cli {

namespace {

struct EvalArgs {
  std::string config;
  tasks::EvalRunOptions options;
};

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval", "In-context evaluation of a causal LM checkpoint on tasks in lm-evaluation-harness's "
              "task YAML; prints a table and writes the harness's results JSON");
  cmd->add_option("config", args->config,
                  "optional YAML with model, tasks, num_fewshot, limit, batch_size, seed, out");
  auto* model = cmd->add_option("--model", args->options.model, "checkpoint or run directory");
  auto* task = cmd->add_option("--task", args->options.tasks,
                               "task name (configs/tasks) or task .yaml path (repeatable)");
  auto* shots = cmd->add_option("--num-fewshot", args->options.num_fewshot,
                                "examples in each prompt; default: the task's num_fewshot")
                    ->check(CLI::NonNegativeNumber);
  auto* limit = cmd->add_option("--limit", args->options.limit,
                                "score only the first N documents of each task")
                    ->check(CLI::NonNegativeNumber);
  auto* batch = cmd->add_option("--batch-size", args->options.batch_size, "requests per forward")
                    ->check(CLI::PositiveNumber);
  auto* seed = cmd->add_option("--seed", args->options.seed, "few-shot sampling seed");
  auto* out = cmd->add_option("--out", args->options.out,
                              "results file; default eval/<timestamp>.json beside the checkpoint");
  auto* threads = cmd->add_option("--threads", args->options.threads,
                                  "CPU threads; 0 = every usable core");
  // The description set apart: in C++20 CLI11 2.3's add_flag(name, "text") is ambiguous
  // between its description and its flag-variable overloads.
  auto* no_prefix = cmd->add_flag("--no-prefix-cache")->description(
      "run the tokens every prompt starts with (first_n shots) again for every request");
  auto* no_share = cmd->add_flag("--no-shared-context")->description(
      "score each multiple-choice choice with its own copy of the context, batched across "
      "documents");
  auto* log_samples = cmd->add_flag("--log-samples")->description(
      "also write each task's documents, requests, log-likelihoods and scores as the "
      "harness's samples_<task>_<date>.jsonl beside the results file");
  cmd->callback([args, model, task, shots, limit, batch, seed, out, threads, no_prefix, no_share,
                 log_samples] {
    tasks::EvalRunOptions o;
    if (!args->config.empty()) {  // the file first; flags given on the command line win
      auto doc = config::Document::load(args->config);
      auto root = doc.root();
      tasks::read_options(root, o);
    }
    const auto& a = args->options;
    if (model->count()) o.model = a.model;
    if (task->count()) o.tasks = a.tasks;
    if (shots->count()) o.num_fewshot = a.num_fewshot;
    if (limit->count()) o.limit = a.limit;
    if (batch->count()) o.batch_size = a.batch_size;
    if (seed->count()) o.seed = a.seed;
    if (out->count()) o.out = a.out;
    if (threads->count()) o.threads = a.threads;
    if (no_prefix->count()) o.reuse_prefix = false;
    if (no_share->count()) o.share_context = false;
    if (log_samples->count()) o.log_samples = true;
    tasks::run_eval(o);
  });
}

}  // namespace strata::cli
