#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiments/finetune_curve.h"

namespace strata::cli {

void add_finetune_curve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "finetune-curve",
      "Accuracy against the number of labelled examples, pre-trained and fine-tuned against "
      "from scratch: trains every variant of the config at each label count and seed, and "
      "writes finetune_curve.csv, finetune_curve_summary.csv (mean and std over seeds), "
      "finetune_curve.json and finetune_curve.png.");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML curve config (see experiments/finetune_curve.h)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. seeds=1");
  cmd->callback([config, overrides] { experiments::finetune_curve(*config, *overrides); });
}

}  // namespace strata::cli
