// `strata tasks export NAME --out DIR [--overwrite] [--task-dir DIR]`: a task's documents
// and a task file that reads them (tasks/task_export.h), for lm-evaluation-harness.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "tasks/task_export.h"

namespace strata::cli {

void add_tasks_command(CLI::App& app) {
  auto* tasks = app.add_subcommand("tasks", "Task files: export a task's documents");
  tasks->require_subcommand(1);
  struct Args {
    std::string task, out, task_dir = "configs/tasks";
    bool overwrite = false;
  };
  auto args = std::make_shared<Args>();
  auto* exp = tasks->add_subcommand(
      "export",
      "Write a task's documents (built-in datasets too) as JSON Lines and a task file reading "
      "them, for lm_eval --include_path DIR --tasks NAME");
  exp->add_option("task", args->task, "a task name (configs/tasks) or a task .yaml path")->required();
  exp->add_option("--out", args->out, "the directory to write")->required();
  exp->add_option("--task-dir", args->task_dir, "where task names are looked up");
  exp->add_flag("--overwrite", args->overwrite)->description("replace the task's files in a non-empty DIR");
  exp->callback([args] {
    for (const auto& f : tasks::export_task(args->task, args->task_dir, args->out, args->overwrite)) {
      std::printf("wrote %s\n", f.c_str());
    }
  });
}

}  // namespace strata::cli
