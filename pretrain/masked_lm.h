#pragma once
// Masked-LM pre-training (Devlin et al. 2019): choose 15% of the non-special tokens; of
// those, 80% become [MASK], 10% a random token, 10% stay as they are; the model predicts
// the original token at every chosen position and nowhere else (target -100).
//
// The mask of a row is drawn from a generator seeded by (seed, the row's tokens), so it is
// the same on every run, after a resume, and however the global batch is split among
// data-parallel ranks; nothing needs saving in a checkpoint.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/network.h"
#include "core/objectives.h"
#include "core/tokenizer.h"

namespace strata::pretrain {

struct MaskedLMOptions {
  int64_t vocab_size = 0;
  int64_t mask_id = -1;              // [MASK]
  std::vector<int64_t> special_ids;  // never chosen, never drawn as a random replacement
  double mask_prob = 0.15;           // chance that a non-special token is chosen
  double mask_token_prob = 0.8;      // of the chosen: replaced by [MASK]
  double random_token_prob = 0.1;    // of the chosen: replaced by a random token; rest kept
  uint64_t seed = 0;
  // >= 0: position 0 of every row becomes this id ([CLS]) and is never chosen, as BERT's
  // inputs start. -1: rows are used as they come.
  int64_t cls_id = -1;
};

// Reads [MASK] (and [CLS] when `cls_first`) and the special ids (unk, bos, eos, pad,
// [MASK], [CLS], [SEP], whichever exist) from a tokenizer trained with_mlm_symbols().
// A tokenizer without [MASK] is an InputError.
MaskedLMOptions masked_lm_options(const Tokenizer& tokenizer, uint64_t seed,
                                  bool cls_first = false);

// The masked batch: input with chosen tokens replaced, target holding the original token
// at chosen positions and -100 elsewhere; segment and attention_mask are passed through.
// Every row with a choosable token gets at least one chosen position.
Batch mask_tokens(const Batch& batch, const MaskedLMOptions& options);

class MaskedLMObjective : public Objective {
 public:
  explicit MaskedLMObjective(MaskedLMOptions options);

  // Masks batch.input (batch.target is ignored) and takes the model's loss (Network::loss)
  // over the chosen positions; BERT's runs the MLM head on those positions only, without a
  // [B, T, V] logits tensor. count is the number of chosen tokens the loss averages over.
  LossOutput compute(Network& model, const Batch& batch) override;
  const char* unit() const override { return "tokens"; }
  std::string name() const override { return "masked_lm"; }
  bool uneven_counts() const override { return true; }

  const MaskedLMOptions& options() const { return options_; }

 private:
  MaskedLMOptions options_;
};

}  // namespace strata::pretrain
