#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiments/datasize.h"

namespace strata::cli {

void add_datasize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "datasize", "Accuracy against the number of labelled training examples: trains each "
                  "stage of the config on growing stratified subsets, scores each on the full "
                  "test set, and writes datasize.csv, datasize.json and datasize.png.");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML datasize config (configs/datasize/<name>.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. sizes=[100,1000]");
  cmd->callback([config, overrides] { experiments::datasize(*config, *overrides); });
}

}  // namespace strata::cli
