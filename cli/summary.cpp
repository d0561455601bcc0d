#include "cli/commands.h"

namespace strata::cli {

// Placeholder until the command lands; it registers nothing yet.
void add_summary_command(CLI::App& app) { (void)app; }

}  // namespace strata::cli
