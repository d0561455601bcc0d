#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiments/sweep.h"

namespace strata::cli {

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "In-context accuracy against model size: pre-trains each size of the config "
      "with one recipe, evaluates it on the tasks at each shot count, and writes "
      "sweep.csv, sweep/<size>/<k>shot.json, sweep.json and sweep.png. An "
      "interrupted sweep continues where it stopped.");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML sweep config (configs/sweeps/<name>.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", *overrides,
                  "key.sub=value overrides, e.g. num_fewshot=[0,1] pretrain.optimizer.lr=3e-4");
  cmd->callback([config, overrides] { experiments::sweep(*config, *overrides); });
}

}  // namespace strata::cli
