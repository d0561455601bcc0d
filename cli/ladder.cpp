#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiments/ladder.h"

namespace strata::cli {

void add_ladder_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ladder", "The design notes' five stages on one problem: runs every stage of the config "
                "(rules, conventional ML, a network from scratch, pre-trained and fine-tuned, "
                "prompted), reusing finished runs, and writes one measured table (ladder.md, "
                "ladder_summary.csv, ladder.json).");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML ladder config (configs/ladder/<name>.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. seeds=1");
  cmd->callback([config, overrides] { experiments::ladder(*config, *overrides); });
}

}  // namespace strata::cli
