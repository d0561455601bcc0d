#pragma once
// `strata report RUN_DIR`: a Markdown report of a run made of runs, for a person to read
// instead of the logs: RUN_DIR/report.md.
//
// For a ladder (RUN_DIR/ladder.json): its table, what the measurements say of the design
// notes' three claims (each stage needs less hand work than the one before; pre-training
// needs fewer labels; a big model needs none), and ladder_accuracy.png, accuracy against
// labelled examples with one line per stage (scripts/plot_ladder.py). Then, in RUN_DIR and
// each folder directly under it, the table and plot of every datasize, finetune-curve and
// sweep run found (datasize.md/.png, finetune_curve.md/.png, sweep.md/.png). Only plots
// that exist are linked; one that cannot be made (no matplotlib) is named as missing.

#include <string>

namespace strata::experiments {

// Writes RUN_DIR/report.md and returns its path. A RUN_DIR that holds none of these runs is
// an InputError naming it.
std::string report(const std::string& run_dir);

}  // namespace strata::experiments
