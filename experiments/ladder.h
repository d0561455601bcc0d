#pragma once
// `strata ladder CONFIG`: the design notes' five stages on one problem, with the same split
// and the same test messages, in one measured table (configs/ladder/spam.yaml):
//
//   out_dir: runs/ladder/spam
//   seed: 0
//   seeds: 3                  # seeds seed .. seed+seeds-1 for every stage that trains
//   labels_per_class: 100     # the limited-labels column; the other column is all labels
//   num_classes: 2            # labelled examples of a limited run: labels_per_class x this
//   one_seed_after_s: 600     # a run slower than this: its stage and label count, one seed
//   pretrain:                 # optional: the pre-training stages 3-5 start from, run once
//     config: ../finetune/gpt-base.yaml
//     overrides: []
//     labels: 0               # labelled examples it used (36000 for a supervised one)
//   task_dir: ../tasks        # for `prompt` stages' task names (default: configs/tasks above)
//   stages:
//     - stage: "1"            # the notes' stage number (its first digit), plus a letter
//       approach: hand-written rules
//       kind: rules           # rules | train | finetune | prompt | none
//       config: ../rules/spam.yaml      # a `strata train` config (rules, train, finetune)
//       overrides: []
//       view: headers, subject and body # what of each message the stage reads
//     - stage: "2"
//       kind: train
//       config: ../classic/spam-select.yaml
//       limited_overrides: [data.validation=40]  # the limited-labels runs only
//     - stage: "4"
//       kind: finetune
//       config: ../finetune/spam-gpt.yaml
//       uses_pretrain: true   # init.from = the ladder's pre-training run
//       epochs: {examples: 6000, min: 3, max: 60}   # as finetune-curve's
//       requires: ../../pretrained/all-MiniLM-L6-v2  # optional: absent, the row says so
//       class_subset: {name: "classes 6-9", classes: [6, 7, 8, 9]}  # optional: the mean
//                             #   test accuracy of these classes (eval/test/acc_class_<k>)
//     - stage: "5"
//       kind: prompt          # the pre-training run, prompted; no training on the task
//       task: ../tasks/spam.yaml        # a task name or path
//       num_fewshot: [0, 1, 2]
//       limit: 0              # test documents; 0: all
//     - {stage: "5", kind: none, reason: "..."}  # shown as not applicable, with the reason
//
// Every run is a point of one run grid (grid.h): checked before any trains, reused under the
// grid's one rule (a finished run whose config and overrides are unchanged), so a second
// `strata ladder` reruns only what changed. A `rules` stage runs once; `train` and
// `finetune` stages run at labels_per_class and at all labels (data.labels_per_class 0),
// one run per seed; `prompt` stages evaluate once per shot count with `strata eval`.
//
// Writes out_dir/ladder.csv (one row per run), ladder_summary.csv and ladder.md (the table:
// stage, approach, view, features by, decision by, hand-written lines, labelled examples,
// accuracy with labels_per_class and with all labels as mean ± std over seeds, seeds, train
// time, inference examples/s, cut prompts, and the notes' data-needed and development-speed
// columns), and ladder.json. Hand-written lines are the YAML lines (one per scalar, block
// style) of the stage config's model.rules and model.features.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// Runs the ladder; returns ladder.json's content: `table` (a row per stage, or per shot
// count of a prompt stage, keyed by column), `markdown`, `trained` (runs this call ran),
// `pretrain` (its run directory; null without one) and `pretrain_seconds`. Bad input is an InputError
// naming file:line, raised before any run starts.
nlohmann::json ladder(const config::Document& doc);

void ladder(const std::string& config_path, const std::vector<std::string>& overrides);

// The design notes' comparison table for a stage number 1-5: features by, decision by,
// data needed, development speed. Throws std::out_of_range for other numbers.
struct NotesRow {
  std::string features_by, decision_by, data_needed, development_speed;
};
const NotesRow& notes_row(int stage);

}  // namespace strata::experiments
