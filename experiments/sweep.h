#pragma once
// `strata sweep CONFIG`: in-context accuracy against model size, one line per shot count,
// as the figures of the GPT-3 paper (Brown et al., 2020): every size pre-trained by one
// recipe, then evaluated on tasks at 0, 1 and k shots.
//
//   out_dir: runs/sweep/cpu
//   seed: 0
//   pretrain:                     # a configs/pretrain/gpt-*.yaml without the model's size,
//     model: {type: gpt}          #   the step budget and the shared top-level keys
//     data: {block_size: 128, tokenizer: {vocab_size: 4096}}  # corpus: sotu, brown, moby_dick
//     optimizer: {type: adamw, lr: 0.001}
//     trainer: {batch_size: 16, tokens_per_step: 4096}
//   sizes: [debug, tiny, {name: wide, n_layer: 2, n_head: 4, n_embd: 256}]
//   tokens_per_parameter: 20      # or token_budget: 2.0e6 (tokens for every size)
//   tasks: [copy_words, configs/tasks/addition.yaml]   # names (task_dir) or paths
//   num_fewshot: [0, 1, 8]
//   limit: 200                    # documents per task; 0: all
//   eval_batch_size: 8
//   task_dir: ../tasks            # default: configs/tasks above the config file
//   plot: true                    # scripts/plot_sweep.py (matplotlib)
//
// Parameters are counted without the embeddings (token and position), as Kaplan et al.
// (2020) and GPT-3's figures count them: the `params` column and the budget
// (tokens_per_parameter x params) both use this count. Chinchilla's 20 tokens per
// parameter counted the embeddings too, so on small models with large vocabularies this
// budget is smaller than Chinchilla's.
//
// Each size trains in out_dir/sizes/<size>/ (a `strata train` run directory) for
// max_steps = ceil(budget / tokens per step), tokens per step being batch_size x block_size
// x grad_accum as the trainer counts them. Every size reads the same windows
// (model.block_size defaults to data.block_size) and the same prepared corpus
// (out_dir/data, one tokenizer for all). Each (size, shot count) writes an eval results
// file in lm-evaluation-harness's layout, out_dir/sweep/<size>/<k>shot.json. Sizes and points
// are reused under the run grid's one rule (grid.h): a finished size whose recipe is
// unchanged is not trained again (one cut short resumes from its latest checkpoint), and a
// point whose size, shot count, options and task files are unchanged is not evaluated
// again, so an interrupted sweep continues where it stopped.
//
// Writes out_dir/sweep.csv (size, params, task, num_fewshot, metric, value, stderr; kept
// current as points finish), sweep.md (size, task and metric by shot count), sweep.json and
// sweep.png. When a size's run logged the
// in-context learning score of Olsson et al. (2022) (`eval/validation/icl_score`), it is a
// row of task `validation`, metric `icl_score`, with no shot count.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// Runs the sweep; returns sweep.json's content, including `trained` and `evaluated`: how
// many sizes were trained and how many (size, shot count) points evaluated by this call.
// Bad input is an InputError naming file:line, raised before any size trains.
nlohmann::json sweep(const config::Document& doc);

void sweep(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace strata::experiments
