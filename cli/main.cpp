// strata: one program, a subcommand per job (docs/architecture.md, "The program").
//
// Exit status: 0 success, 2 bad input (config, arguments, data, checkpoint), 1 anything
// else. A bad input prints one line naming what is wrong and where.

#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/errors.h"

int main(int argc, char** argv) {
  CLI::App app{"Strata: rules, classical ML, deep learning, pre-training and in-context "
               "evaluation, measured on one tool"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  strata::cli::add_train_command(app);
  strata::cli::add_summary_command(app);
  strata::cli::add_tokenizer_command(app);
  strata::cli::add_generate_command(app);
  strata::cli::add_datasize_command(app);
  strata::cli::add_ladder_command(app);
  strata::cli::add_recommend_command(app);
  strata::cli::add_report_command(app);
  strata::cli::add_eval_command(app);
  strata::cli::add_sweep_command(app);
  strata::cli::add_export_command(app);
  strata::cli::add_finetune_curve_command(app);
  strata::cli::add_tasks_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "strata: error: %s\n", e.what());
    return strata::kExitBadInput;
  } catch (const strata::InputError& e) {
    std::fprintf(stderr, "strata: error: %s\n", e.what());
    return strata::kExitBadInput;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "strata: internal error: %s\n", e.what_without_backtrace());
    return strata::kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata: error: %s\n", e.what());
    return strata::kExitFailure;
  }
  return strata::kExitOk;
}
