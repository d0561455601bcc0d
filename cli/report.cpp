#include <memory>
#include <string>

#include "cli/commands.h"
#include "experiments/report.h"

namespace strata::cli {

void add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "report", "A Markdown report (RUN_DIR/report.md) of a ladder, datasize, finetune-curve or "
                "sweep run: its tables, the design notes' claims as measured, and PNG plots.");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("run_dir", *dir, "the run's out_dir")->required();
  cmd->callback([dir] { experiments::report(*dir); });
}

}  // namespace strata::cli
