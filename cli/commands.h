#pragma once
// Each subcommand lives in its own cli/<name>.cpp and adds itself to the program here.
// A command parses its arguments and calls library code; the work lives in the libraries.

#include <CLI/CLI.hpp>

namespace strata::cli {

void add_train_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_tokenizer_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_datasize_command(CLI::App& app);
void add_ladder_command(CLI::App& app);
void add_recommend_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_finetune_curve_command(CLI::App& app);
void add_tasks_command(CLI::App& app);

}  // namespace strata::cli
