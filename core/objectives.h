#pragma once
// Training objectives shared by pre-training and fine-tuning (docs/architecture.md, "What may
// depend on what": what both need lives in core). Masked LM lives in pretrain/,
// prompt-completion in finetune/.

#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/config.h"
#include "core/network.h"

namespace strata {

enum class ObjectiveType {
  kClassification,  // cross-entropy over class logits (ClassificationObjective)
  kCausalLM,        // next-token prediction (CausalLMObjective)
  kMaskedLM,        // BERT's masked LM (pretrain/masked_lm.h)
};
const config::EnumNames<ObjectiveType>& objective_type_names();  // classification, causal_lm, masked_lm

struct ObjectiveOptions {
  ObjectiveType type = ObjectiveType::kClassification;
  double label_smoothing = 0.0;  // classification
  double mask_prob = 0.15;       // masked_lm: share of the tokens chosen
};

// `objective:`; finishes the section. The type's default is the caller's (from the data).
void read_options(config::Reader r, ObjectiveOptions& o);

struct LossOutput {
  torch::Tensor loss;      // scalar, mean over counted units
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

// Next-token cross-entropy of batch.input [B, T] against batch.target [B, T] (-100
// ignored), through Network::loss: the model's own fused head, no [B, T, V] logits.
class CausalLMObjective : public Objective {
 public:
  LossOutput compute(Network& model, const Batch& batch) override;
  const char* unit() const override { return "tokens"; }
  std::string name() const override { return "causal_lm"; }
};

// Cross-entropy of the model's own loss over the positions whose target is not -100:
// `count` is their number, `processed` every input token. Shared by the LM objectives.
LossOutput token_loss(Network& model, const Batch& batch);

}  // namespace strata
