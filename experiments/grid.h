#pragma once
// The run grid under every curve: `datasize`, `finetune-curve` and `sweep` each declare
// their runs (a point of their axes: a directory, a config, what it costs) and how one
// finished run is measured; the grid does the rest, the same way for all of them.
//
// - check: every run's config is read by the readers that will run it, before any trains;
// - reuse, one rule: a run is finished when its results file exists and records the key
//   (FNV-1a 64 of its config with every override applied, out_dir, threads, resume and
//   overwrite left out, plus the keys of the runs it starts from) it would have now. A run
//   whose config changed runs again; nothing else does. overwrite=true runs everything;
// - progress: "[<name> i/n] <label>", with an ETA from the seconds per unit of cost of the
//   runs measured so far (this call's, or recorded in results files by an earlier one);
// - the rows CSV (<name>.csv), rewritten after each run, and the summary's files
//   (<name>_summary.csv, <name>.json, <name>.md and <name>.png) through one call.
//
// Overrides are built by `override_arg`, which quotes the value as YAML; never by string
// concatenation.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/run.h"
#include "tasks/eval_run.h"

namespace strata::experiments {

// `key=value`, the value a YAML scalar: a string in double quotes (JSON's escapes, which
// YAML reads), a number as written, true/false.
std::string override_arg(const std::string& key, const std::string& value);
std::string override_arg(const std::string& key, const char* value);
std::string override_arg(const std::string& key, int64_t value);
std::string override_arg(const std::string& key, int value);
std::string override_arg(const std::string& key, double value);  // shortest exact form
std::string override_arg(const std::string& key, bool value);

// "fnv1a64:<16 hex digits>" of `text`.
std::string grid_key_of(const std::string& text);

// A config's text for its reuse key: the document with its overrides applied (yaml()),
// the run-placement keys (out_dir, threads, resume, overwrite) dropped.
std::string config_key_text(const config::Document& doc);

// One run of a grid.
struct GridRun {
  std::string label;    // for progress lines: "stage 3: CNN | 100 examples"
  std::string context;  // for errors, where it differs: "variant 'a' (curve.yaml:14)"
  std::string results_file;  // its results JSON; the grid adds `grid` {key, seconds} to it
  // What decides its result: a config's key text (config_key_text), plus the keys of the
  // runs it starts from. Its FNV-1a 64 is the reuse key.
  std::string key_text;
  bool resumable = false;  // cut short (no results file): continue where it stopped
  double cost = 1;         // relative work, for the ETA (FLOPs, examples, 1)
  // The ETA's classes, most specific first: a run is expected to take the seconds per
  // cost of the first class with a measured run, else of every run measured.
  std::vector<std::string> eta_classes;
  // Reads its config as the run will, running nothing (InputError on bad input). Called
  // by RunGrid::check; may be empty.
  std::function<void()> check;
  // Runs it: `resume` says whether to continue where a run cut short stopped (only for
  // resumable runs whose results file is missing). Returns its results; `eta_seconds`
  // may be set to the part of its time that scales with `cost` (0: the wall time).
  struct Outcome {
    nlohmann::json results;
    double eta_seconds = 0;
  };
  std::function<Outcome(bool resume)> work;
};

// A `strata train` run as a grid run, its results in dir/results.json. `make(extra)` is
// its config with the `extra` overrides appended: out_dir=dir, threads (when `threads` >
// 0) and resume=true or overwrite=true, the grid's part. Its key text is make({})'s plus
// `parent_keys` (the keys of the runs it starts from); check() is check_train_config
// (curve_util.h) on make({}).
using MakeDocument = std::function<config::Document(const std::vector<std::string>& extra)>;
// The MakeDocument of a config file: config::Document::load(config, overrides + extra).
MakeDocument config_file_document(std::string config, std::vector<std::string> overrides);
GridRun train_grid_run(std::string label, std::string dir, MakeDocument make, int64_t threads,
                       bool resumable, const std::vector<std::string>& parent_keys = {});

// An in-context evaluation (`strata eval`, tasks/eval_run.h) as a grid run, its results
// file `options.out`; `key_text` says what decides its result (the model's key, the
// options, the task files' text: tasks_key_text).
GridRun eval_grid_run(std::string label, const tasks::EvalRunOptions& options,
                      std::string key_text);
// The text of each task file `options` names (found in options.task_dir), for keys.
std::string tasks_key_text(const tasks::EvalRunOptions& options);

// What a grid's summary writes. Empty parts are not written.
struct GridSummary {
  std::string summary_csv;       // <name>_summary.csv
  std::string markdown;          // <name>.md (and printed)
  nlohmann::json json;           // <name>.json; `plot` is added when one is made
  std::string plot_script;       // scripts/<plot_script>, run with plot_args (see curve_util.h)
  std::vector<std::string> plot_args;  // "{png}" stands for <name>.png
};

class RunGrid {
 public:
  // `name` names the files (datasize.csv, ...) and the progress lines; `rows_header` is
  // the rows CSV's first line, without its line break.
  // `doc` is the grid's own config: its resolved form is written to out_dir/config.yaml,
  // and plot scripts are found from its file.
  RunGrid(std::string name, const config::Document& doc, const RunOptions& run,
          std::string rows_header);

  const std::filesystem::path& out_dir() const { return out_; }

  // Every run's check(); an InputError names the run's context (else label). Writes nothing.
  void check(const std::vector<GridRun>& runs) const;

  // The results of `run` when it is finished under the grid's rule, else null.
  nlohmann::json finished(const GridRun& run) const;

  // Rows CSV lines (each without its line break, fields already CSV-formatted) that one
  // run adds, given its results and the seconds it took (recorded or measured).
  using Measure =
      std::function<std::vector<std::string>(size_t index, const nlohmann::json& results,
                                             double seconds)>;
  struct Outcome {
    std::vector<nlohmann::json> results;  // per run
    std::vector<double> seconds;          // per run, as recorded
    std::vector<bool> ran;                // per run: whether this call ran it
    int64_t trained = 0;                  // runs this call ran
  };
  // Runs every run not finished, in order, and measures each; the rows CSV is rewritten
  // after each run. Creates out_dir and writes its config.yaml on the first call.
  Outcome run(const std::vector<GridRun>& runs, const Measure& measure);

  // The summary's files; returns the JSON as written (with `plot` when one was made).
  nlohmann::json write_summary(GridSummary summary) const;

  // The seconds a finished run took, as the grid recorded them (0: not recorded).
  static double recorded_seconds(const nlohmann::json& results);

 private:
  std::string command_name() const;  // "finetune-curve" for "finetune_curve"
  std::string name_, config_file_, config_yaml_, rows_header_;
  std::filesystem::path out_;
  bool overwrite_ = false;
  std::vector<std::string> rows_;  // every run call's rows, in order
};

// "h:mm:ss".
std::string clock_text(double seconds);

}  // namespace strata::experiments
