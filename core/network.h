#pragma once
// What the trainer needs from a neural model, and the batch it consumes.
//
// core knows no model: the zoo's families (models/cnn, models/gpt, models/bert) derive from
// Network, and the trainer, objectives, summary and checkpoint code see only this.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/causal_lm.h"
#include "core/precision.h"

namespace strata {

// One batch of examples. Unused fields stay undefined tensors.
struct Batch {
  torch::Tensor input;           // images [B, C, H, W] float, or token ids [B, T] int64
  torch::Tensor target;          // class ids [B], or token ids [B, T] (-100 = ignored)
  torch::Tensor segment;         // BERT segment ids [B, T]
  torch::Tensor attention_mask;  // [B, T], 1 for real tokens, 0 for padding

  int64_t size() const { return input.defined() ? input.size(0) : 0; }
  // On `device`; with `pin` (trainer.pin_memory, CUDA only) through pinned host memory and
  // non_blocking copies (core/precision.h).
  Batch to(const torch::Device& device, bool pin = false) const {
    auto move = [&](const torch::Tensor& t) { return to_device(t, device, pin); };
    return Batch{move(input), move(target), move(segment), move(attention_mask)};
  }
};

// One line of `strata summary`: a layer, its output shape, its parameters.
struct SummaryRow {
  std::string name;          // "conv1"
  std::string type;          // "Conv2d"
  std::string output_shape;  // "(None, 26, 26, 32)" style, or "" when unknown
  int64_t params = 0;
  int64_t trainable = 0;
};

// How a head reads a sequence model's hidden states [B, T, C] as one vector per example.
enum class Pooling {
  kDefault,  // the family's own: BERT's pooled [CLS], a GPT's last real token
  kFirst,    // position 0 ([CLS]) without BERT's pooler layer
  kLast,     // the last position whose attention_mask is 1 (all of T without a mask)
  kMean,     // the mean over positions whose attention_mask is 1
};

class Network : public torch::nn::Module {
 public:
  // Class logits [B, K] or token logits [B, T, V].
  virtual torch::Tensor forward(const Batch& batch) = 0;

  // Mean loss of the batch's targets: a scalar over the units whose target is not -100.
  // The default is cross_entropy(forward(batch), batch.target) over the last dimension of
  // the logits; GPT and BERT override it with their chunked heads (no [B, T, V] logits).
  virtual torch::Tensor loss(const Batch& batch);

  // The longest input sequence in tokens; 0 for a model that does not read sequences.
  virtual int64_t context_length() const { return 0; }
  // The number of token ids the model embeds; 0 for a model that does not read tokens.
  virtual int64_t vocab_size() const { return 0; }

  // One feature vector per example for a head that sits on top: [B, num_features()].
  // BERT: its pooled [CLS] (or kFirst/kMean); a GPT: the last real token's hidden state
  // (or kMean); the CNN: its flattened conv features (only kDefault). A pooling the family
  // has not got is an InputError.
  virtual torch::Tensor features(const Batch& batch, Pooling pooling = Pooling::kDefault);
  virtual int64_t num_features() const { return 0; }

  // The model as a causal language model, or null when it is not one.
  virtual CausalLM* causal_lm() { return nullptr; }

  // Training FLOPs per token or example (forward + backward), for MFU; 0 when unknown.
  virtual double train_flops_per_unit() const { return 0.0; }

  // Rows for `strata summary`. The default lists direct children with their parameters
  // and no shapes; families that can trace shapes (a Sequential stack) override it.
  virtual std::vector<SummaryRow> summary();

 protected:
  Network() = default;
};

// Hidden states [B, T, C] -> [B, C] by kFirst, kLast or kMean (kDefault reads as kLast),
// with attention_mask [B, T] (1 = real token; rows right-padded) or undefined.
torch::Tensor pool_hidden_states(const torch::Tensor& hidden, const torch::Tensor& attention_mask,
                                 Pooling pooling);

}  // namespace strata
