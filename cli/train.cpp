#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiments/train.h"

namespace strata::cli {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train", "Fit whatever the config's model is: pre-train or fine-tune a network, fit a "
               "classical learner, or score rules. Writes out_dir with metrics, checkpoints "
               "and results.json.");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML run config (configs/<area>/<name>.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. trainer.epochs=2");
  cmd->callback([config, overrides] { experiments::train(*config, *overrides); });
}

}  // namespace strata::cli
