#pragma once
// `strata train` on a fine-tuning config: a config with an `init:` section starts from a
// pre-trained checkpoint (finetune/pretrained.h), adds a head or trains prompt-completion,
// applies a freeze policy (core/freeze.h) and trains with the same Trainer and run
// directory as every other run.
//
//   out_dir: runs/finetune/spam-gpt
//   seed: 0
//   init: {from: runs/spam-base, pretrained: true, ignore: []}
//   model: {dropout: 0.1}             # optional; only what keeps every weight's shape
//   head:
//     type: classification            # classification | prompt_completion (a GPT)
//     pooling: default                # default | first | last | mean (core/network.h)
//     dropout: 0.1
//   data:                             # text: a task file (finetune/task_data.h) ...
//     task: spam
//     labels_per_class: 50
//     validation: 0.2
//     max_length: 128
//   # ... or images: {dataset: fashion_mnist, classes: [Sneaker, Bag], labels_per_class: 10,
//   #                 validation: 0.2}
//   freeze: {policy: frozen_base}     # core/freeze.h
//   optimizer: {...}  schedule: {...}
//   trainer: {batch_size: 32, epochs: 5, best_metric: eval/validation/acc, early_stop: 3}
//
// Metrics: eval/validation/{acc,loss} (when data.validation > 0) at trainer.eval_every, and
// eval/test/{acc,loss} once at the end
// for a classification head; eval/<task>/0shot/<metric> for prompt-completion.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "core/config.h"
#include "core/network.h"

namespace strata::experiments {

// Trains the config; returns results.json's content. Bad input is an InputError.
nlohmann::json finetune_document(const config::Document& doc);

// Reads and checks every section of a fine-tuning config, loading nothing (the curve
// experiments check their runs' configs before the first run). InputError naming file:line.
void check_finetune_document(const config::Document& doc);

// The config's model under its head, for `strata summary`: with `checkpoint_dir` empty,
// init.from's weights and the freeze policy as at step 0; else the checkpoint's weights and
// what was frozen when it was saved (its state.json).
std::shared_ptr<Network> finetune_model(const config::Document& doc,
                                        const std::string& checkpoint_dir = "");

}  // namespace strata::experiments
