#pragma once
// `strata finetune-curve CONFIG`: accuracy against the number of labelled examples, a
// pre-trained-and-fine-tuned model against one trained from scratch, each point the mean
// and standard deviation over seeds (the label draw and the initialisation).
//
//   out_dir: runs/finetune/fashion-transfer
//   seed: 0                  # seeds run: seed, seed+1, ..., seed+seeds-1 (each run's `seed`)
//   seeds: 3
//   labels_per_class: [10, 100, 1000]   # 0: all labels
//   num_classes: 2           # classes of a run whose config lists no data.classes (for
//                            #   train_examples and epochs)
//   metric: eval/test/acc    # read from each run's results.json["results"]: a fine-tuning
//                            #   run's test accuracy; eval/fashion_mnist/acc for a plain
//                            #   `strata train` image run
//   pretrain:                # optional: the checkpoint every run starts from, built once
//     config: fashion-base.yaml         #   in out_dir/pretrain by any `strata train` config
//     overrides: [trainer.epochs=3]
//     # or instead: checkpoint: path/to/run_or_checkpoint  (must exist)
//   groups:                  # optional: another axis (class pairs, say), each a name and
//     - name: "Sneaker vs Ankle boot"   #   overrides for every run in it
//       overrides: ["data.classes=[Sneaker, Ankle boot]"]
//   variants:
//     - name: "fine-tuned, frozen base"
//       config: fashion-pair.yaml               # any `strata train` config; relative to
//       overrides: [freeze.policy=frozen_base]  #   this file
//       epochs: {examples: 10000, min: 3, max: 200}  # optional: trainer.epochs =
//     - name: "from scratch"                         #   clamp(examples / train examples)
//       config: fashion-pair.yaml
//       overrides: [init.pretrained=false, freeze.policy=none]
//   plot: true               # scripts/plot_finetune_curve.py (matplotlib)
//
// Every run is `strata train` of its variant's config with, in this order, its group's
// overrides, its variant's, then out_dir=<out_dir>/<group>/<variant>/<n>/seed-<s> (each a
// slug of the name; no group level without `groups`), seed=<s>, data.labels_per_class=<n>,
// trainer.epochs (with `epochs`; a run on all labels gets `min`), threads and device when
// this config sets them, overwrite=true (a run cut short starts over) and, with `pretrain`,
// init.from=<the pre-training run directory or the checkpoint>: every variant's config
// must then accept `init.from`. A run has n x classes training examples, the classes being
// its data.classes, or num_classes where it lists none.
//
// The pre-training run gets out_dir=<out_dir>/pretrain, the curve's `seed` (the first),
// threads and device as the runs do, and resume=true: one cut short continues from its
// latest checkpoint. Runs are reused under the run grid's one rule (grid.h): a finished run
// whose config, overrides included, is unchanged is not run again, nor is the pre-training
// run, so an interrupted curve continues where it stopped; a curve run's key includes the
// pre-training run's, so a changed pre-training reruns every curve run; overwrite=true
// runs everything again. Bad input (a missing config, an unknown key in any run's config
// and overrides, an empty list) is an InputError before any run starts; an error that
// needs the pre-training run's directory to exist surfaces once it does, before the first
// curve run.
//
// Writes out_dir/finetune_curve.csv (group, variant, labels_per_class, train_examples,
// seed, value, seconds, run_dir: one row per run, kept current as runs finish),
// finetune_curve_summary.csv (group, variant, labels_per_class, mean, std, n_seeds; std is
// the sample standard deviation over seeds, empty for one seed), finetune_curve.json,
// finetune_curve.md and finetune_curve.png, and prints the Markdown table of mean ± std.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// Runs the curve; returns finetune_curve.json's content: `rows` (one per run), `summary`
// (one per group, variant and label count), `table` (Markdown), `trained` (how many runs
// this call trained, the pre-training not counted), `pretrain` (what init.from was; null
// without one) and `plot` when one was made. Bad input is an InputError naming file:line.
nlohmann::json finetune_curve(const config::Document& doc);

void finetune_curve(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace strata::experiments
