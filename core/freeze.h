#pragma once
// Freeze policies: which parameters train at each step of a fine-tuning run, and at what
// learning rate (the FreezePolicy interface of core/trainer.h).
//
//   freeze:
//     policy: frozen_base        # none | frozen_base | freeze_first_n | patterns | gradual_unfreeze | lora
//     n: 2                       # freeze_first_n: the embeddings and blocks 0 .. n-1 frozen
//     train: ["transformer.h.3.*"]   # patterns: only these (and the head) train
//     freeze: ["*.ln_*"]             # patterns: these are frozen
//     every: 100                 # gradual_unfreeze: one more block every `every` steps
//     lr_decay: 0.8              # layer-wise learning-rate decay; 1: off
//     bn: frozen                 # frozen | train: BatchNorm statistics of frozen layers
//
// Parameters are placed by name into layers, bottom to top:
//   embeddings  names containing "wte", "wpe" or "embeddings";
//   block i     "...h.{i}.", "...layer.{i}." or "...layers.{i}." (GPT, BERT), and the
//               CNN's "conv{i+1}." / "bn{i+1}." (conv block i+1 is block i);
//   top         every other base parameter (GPT's ln_f, BERT's pooler, the CNN's dense
//               layers);
//   head        parameters under one of the head's prefixes ("score.", "classifier.").
// The head always trains.
//
// - frozen_base: only the head trains (a linear probe when the head is one layer).
// - freeze_first_n: the embeddings and blocks 0 .. n-1 are frozen (the design notes'
//   `transformer.h[:10]`), the blocks above, the top and the head train.
// - patterns: shell-style patterns (fnmatch: `*`, `?`, `[...]`) over parameter names. With
//   `train`, only matching parameters and the head train; with `freeze`, matching ones are
//   frozen. A pattern that matches no parameter is an InputError (a typo freezes nothing).
// - gradual_unfreeze: ULMFiT's schedule (Howard & Ruder 2018, "Universal Language Model
//   Fine-tuning for Text Classification", section 3.3): the head trains from step 0; at
//   step s the top floor(s / every) units are unfrozen too, top down, where the units are
//   [top + block L-1], block L-2, ..., block 0, embeddings.
// - lora: the base frozen, the LoRA adapters (parameters named "*.lora_A", "*.lora_B"; see
//   finetune/lora.h) and the head train. Keys `rank`, `alpha`, `targets`.
// - Frozen modules run in eval mode while the model trains (apply_frozen_modes): a module
//   whose every parameter is frozen keeps its BatchNorm running statistics and runs its
//   dropout off, as PyTorch users get with `module.eval()` after `requires_grad_(False)`.
//   `bn: train` lets the BatchNorm layers among them keep updating their statistics. A
//   module that gradual_unfreeze unfreezes goes back to train mode.
// - lr_decay (any policy): layer-wise learning-rate decay as in ELECTRA (Clark et al. 2020)
//   and BEiT: the head and top train at lr, block i at lr * lr_decay^(L - i), the
//   embeddings at lr * lr_decay^(L + 1).

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/network.h"
#include "core/trainer.h"

namespace strata {

enum class FreezeType { kNone, kFrozenBase, kFreezeFirstN, kPatterns, kGradualUnfreeze, kLoRA };
// none, frozen_base, freeze_first_n, patterns, gradual_unfreeze, lora
const config::EnumNames<FreezeType>& freeze_type_names();

struct FreezeOptions {
  FreezeType policy = FreezeType::kNone;
  int64_t n = 0;                    // freeze_first_n
  std::vector<std::string> train;   // patterns
  std::vector<std::string> freeze;  // patterns
  int64_t every = 0;                // gradual_unfreeze: steps per unfrozen unit
  double lr_decay = 1.0;            // layer-wise decay factor in (0, 1]
  bool bn_train = false;            // `bn: train`: frozen BatchNorm layers update statistics
  // lora (finetune/lora.h adds the adapters; this policy trains them and the head only)
  int64_t lora_rank = 8;            // `rank`
  double lora_alpha = 16.0;         // `alpha`
  std::vector<std::string> lora_targets = {"c_attn", "c_proj", "c_fc", "query", "key", "value", "dense"};
};

// `freeze:`; finishes the section. A key the policy does not use is an InputError.
void read_options(config::Reader r, FreezeOptions& o);

// Where a parameter sits (see above). kBlock comes with the block's index.
enum class LayerKind { kEmbedding, kBlock, kTop, kHead };
struct LayerPlace {
  LayerKind kind = LayerKind::kTop;
  int64_t block = -1;
};
LayerPlace layer_place(const std::string& name, const std::vector<std::string>& head_prefixes);
// The number of blocks L among `names` (1 + the largest block index; 0 when none).
int64_t count_blocks(const std::vector<std::string>& names);

// Sets the modes of a training model's modules from their parameters' requires_grad: the
// whole model to train mode, then every module whose parameters are all frozen (and that
// has some), with everything under it, to eval mode; with `bn_train`, the BatchNorm layers
// among those back to train mode. Does nothing to a model in eval mode.
void apply_frozen_modes(torch::nn::Module& model, bool bn_train);

// The policy for `model` (whose parameter names it reads now: a freeze_first_n beyond the
// model's blocks, or a pattern matching nothing, is an InputError naming the key).
// `head_prefixes`: the new head's parameter prefixes. Null for policy none with lr_decay 1.
std::shared_ptr<FreezePolicy> make_freeze_policy(const FreezeOptions& options, Network& model,
                                                 std::vector<std::string> head_prefixes,
                                                 const std::string& where = "freeze");

}  // namespace strata
