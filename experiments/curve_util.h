#pragma once
// What the curves made of `strata train` runs share (datasize.h, finetune_curve.h): a run's
// name as a directory, the epochs a small training set gets, where a composed config's
// paths and plot script are, and the plot call itself.

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// A name as a directory: lower-case letters and digits, every other run of characters one
// '-' ("Stage 3: CNN" -> "stage-3-cnn"); `fallback` when nothing is left.
std::string slug(const std::string& name, const std::string& fallback);

// `epochs: {examples: 300000, min: 5, max: 300}` of a curve's run: the examples it should
// see, so that small training sets still get enough optimizer steps.
struct EpochBudget {
  double examples = 0;  // 0: not given; the run config's own schedule
  double min = 1, max = 1000;
};
// Reads the `epochs` mapping (`examples` required).
void read_options(config::Reader& r, EpochBudget& o);
// trainer.epochs for a training set of `train_examples`: clamp(ceil(examples /
// train_examples), min, max); `min` when the size is not known (0: the whole set).
double epochs_for(const EpochBudget& b, int64_t train_examples);

// A path in a config: as given when it exists from the working directory, else relative to
// the folder of `config_file` (where one exists), else as given.
std::string near_config(const std::string& path, const std::string& config_file);

// The required path key `key` of `r`, resolved by near_config against the file it is in;
// a path that does not exist is an InputError naming the key's place.
std::string existing_path(config::Reader& r, const std::string& key);

// `relative` (e.g. "scripts/plot_datasize.py") where it first exists, searched upwards from
// the config file's folder, then from the working directory; "" when none does.
std::string find_above(const std::string& config_file, const std::string& relative);

// Runs scripts/<script> (found by find_above) with python_program() (core/python.h) and `args`. A missing
// script or a failure (matplotlib not installed) is a warning naming `who`, not an
// error: the curve's numbers are written either way. Returns whether the plot was made.
bool run_plot_script(const std::string& config_file, const std::string& script,
                     const std::vector<std::string>& args, const std::string& who);

// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);

// A list of shot counts at `key` (kept as it is when absent): at least one, each 0 or more,
// none twice; otherwise an InputError naming the key's place.
void read_shot_counts(config::Reader& r, const std::string& key, std::vector<int64_t>& out);

// A Markdown table cell: '|' escaped.
std::string markdown_cell(const std::string& s);

// Reads and checks a `strata train` config as train_document will, running nothing and
// touching no file: every section of a neural run (plan_run); of a classical run only the
// model type, its learners reading their sections as they are made; of a fine-tuning run
// (`init:`) nothing yet.
void check_train_config(const config::Document& doc);

}  // namespace strata::experiments
