#pragma once
// `strata datasize CONFIG`: accuracy against the number of labelled training examples,
// one line per stage, the design notes' "data size vs accuracy" figure, measured.
//
//   out_dir: runs/datasize/fashion
//   seed: 0
//   sizes: [100, 500, 1000, 5000, 10000, 60000]   # labelled training examples
//   stages:
//     - name: "stage 2: HOG + SVM"
//       config: ../classic/fashion-hog-svm.yaml   # any `strata train` config; relative to
//       overrides: []                             #   this file
//     - name: "stage 3: CNN"
//       config: ../cnn/fashion.yaml
//       overrides: [trainer.eval_every=1000000000]
//       epochs: {examples: 300000, min: 5, max: 300}  # epochs = clamp(examples / size)
//   plot: true                                    # scripts/plot_datasize.py (matplotlib)
//
// Each size is a stratified, seeded subset (data.labels_per_class = size / classes) and
// every run is scored on the full test set. Each run writes its own run directory,
// out_dir/<stage>/<size>/. Runs are reused under the run grid's one rule (grid.h): a
// finished run whose config, overrides included, is unchanged is not run again, so an
// interrupted curve continues where it stopped and an edited stage reruns alone. Writes
// out_dir/datasize.csv (stage, train_examples, test_acc, test_acc_stderr, seconds,
// run_dir), datasize.md (stage by size), datasize.json (with `trained`: runs this call
// ran) and datasize.png.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// Runs the curve; returns datasize.json's content. Bad input is an InputError, raised
// before any run starts.
nlohmann::json datasize(const config::Document& doc);

void datasize(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace strata::experiments
