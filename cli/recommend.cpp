#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "experiments/recommend.h"

namespace strata::cli {

void add_recommend_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "recommend", "The design notes' practical guide (choose_approach): names the stage for "
                   "your data, time and task, why, and the config that starts it; with --ladder, "
                   "also what a ladder run measured.");
  auto q = std::make_shared<experiments::RecommendQuery>();
  cmd->add_option("--data", q->data, "labelled data: none | limited | abundant | structured")
      ->required();
  cmd->add_option("--time", q->time, "time to build it: immediate | moderate | relaxed")->required();
  cmd->add_option("--task", q->task, "the task: simple | specific | complex")->required();
  cmd->add_option("--ladder", q->ladder_dir, "a `strata ladder` out_dir, to compare its measurements");
  cmd->add_option("--rules", q->rules_file, "rules file (default configs/ladder/recommend.yaml)");
  cmd->callback([q] {
    const auto r = experiments::recommend(*q);
    std::fputs(experiments::describe(r, *q).c_str(), stdout);
  });
}

}  // namespace strata::cli
