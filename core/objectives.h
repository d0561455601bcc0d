#pragma once
// Training objectives shared by pre-training and fine-tuning (docs/architecture.md, "What may
// depend on what": what both need lives in core). Masked LM lives in pretrain/,
// prompt-completion in finetune/.

#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/network.h"

namespace strata {

struct LossOutput {
  torch::Tensor loss;      // scalar, mean over counted units
  torch::Tensor correct;   // scalar count of correct predictions (may be undefined)
  int64_t count = 0;       // examples or tokens the loss averages over
  int64_t processed = -1;  // units the step read, for throughput; -1: the same as count
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual LossOutput compute(Network& model, const Batch& batch) = 0;
  // What throughput counts: "examples" or "tokens".
  virtual const char* unit() const = 0;
  virtual std::string name() const = 0;
  // True when `count` differs between batches of one size (masked LM). Data-parallel
  // ranks then weight their losses by count, so the step equals one process's step.
  virtual bool uneven_counts() const { return false; }
};

// Cross-entropy over class logits [B, K] against batch.target [B].
class ClassificationObjective : public Objective {
 public:
  explicit ClassificationObjective(double label_smoothing = 0.0)
      : label_smoothing_(label_smoothing) {}
  LossOutput compute(Network& model, const Batch& batch) override;
  const char* unit() const override { return "examples"; }
  std::string name() const override { return "classification"; }

 private:
  double label_smoothing_;
};

// Next-token cross-entropy over logits [B, T, V] against batch.target [B, T] (-100 ignored).
class CausalLMObjective : public Objective {
 public:
  LossOutput compute(Network& model, const Batch& batch) override;
  const char* unit() const override { return "tokens"; }
  std::string name() const override { return "causal_lm"; }
};

// Token-level cross-entropy with ignored positions, shared by the LM objectives.
LossOutput token_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target);

}  // namespace strata
