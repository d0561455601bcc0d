#pragma once
// `strata train` for stages 1 and 2: rules written by a person, and hand-made features
// with classical learners (one learner, or try-and-error selection among several).
//
//   data:
//     dataset: fashion_mnist        # fashion_mnist | imagefolder | spam_assassin (texts)
//     classes: []                   # images: a subset of the classes, in this order (default: all)
//     labels_per_class: 0           # 0: every training example; N: a stratified, seeded subset
//     validation: 5000              # held out of those training examples (seeded; spam: 500)
//     test_per_class: 0             # 0: the whole test set; N: a stratified subset
//     train_dir: ...  test_dir: ... # imagefolder: root/<class>/*.png|jpg
//     target_size: [28, 28]         # imagefolder: images resized to H x W
//     color_mode: grayscale         # imagefolder: grayscale | rgb
//   model:
//     type: classic                 # rules | classic | select
//     features: {type: hog, orientations: 9, pixels_per_cell: 4, cells_per_block: 2}
//     learner: {type: svm_rbf, C: 10}                 # classic
//     candidates: [{type: svm_rbf, C: [1, 10]}, ...]  # select (models/classic/select.h)
//     refit: false                  # select: refit the winner on training + validation
//     rules: [...]  default: ...    # rules (models/rules/rules.h)
//     print_class_means: false      # rules: print each feature's training mean per class
//
// Writes the run directory (docs/architecture.md, "Run directory"): config.yaml,
// metrics.jsonl, a checkpoint (model.<format> from the learner's library plus state.json;
// rules keep theirs in config.yaml) and results.json with test metrics.

#include <nlohmann/json.hpp>

#include <string>

#include "core/config.h"
#include "core/run.h"

namespace strata::experiments {

// Whether `model.type` names a stage 1 or 2 model ("rules", "classic", "select").
bool is_classical(const std::string& model_type);

// Fits (or, for rules, only scores) the model described by `root` (the whole run config;
// the caller has read RunOptions and prepared the run directory); writes out_dir/config.yaml,
// metrics.jsonl, the checkpoint and results.json; returns results.json's content.
nlohmann::json train_classical(const config::Document& doc, config::Reader& root,
                               const RunOptions& run);
// The same from the whole document: reads the shared keys (RunOptions), sets threads and
// seed, and prepares the run directory first.
nlohmann::json train_classical(const config::Document& doc);

}  // namespace strata::experiments
