#pragma once
// What the trainer needs from a neural model, and the batch it consumes.
//
// core knows no model: the zoo's families (models/cnn, models/gpt, models/bert) derive from
// Network, and the trainer, objectives, summary and checkpoint code see only this.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace strata {

// One batch of examples. Unused fields stay undefined tensors.
struct Batch {
  torch::Tensor input;           // images [B, C, H, W] float, or token ids [B, T] int64
  torch::Tensor target;          // class ids [B], or token ids [B, T] (-100 = ignored)
  torch::Tensor segment;         // BERT segment ids [B, T]
  torch::Tensor attention_mask;  // [B, T], 1 for real tokens, 0 for padding

  int64_t size() const { return input.defined() ? input.size(0) : 0; }
  Batch to(const torch::Device& device) const {
    auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
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

class Network : public torch::nn::Module {
 public:
  // Class logits [B, K] or token logits [B, T, V].
  virtual torch::Tensor forward(const Batch& batch) = 0;

  // Training FLOPs per token or example (forward + backward), for MFU; 0 when unknown.
  virtual double train_flops_per_unit() const { return 0.0; }

  // Rows for `strata summary`. The default lists direct children with their parameters
  // and no shapes; families that can trace shapes (a Sequential stack) override it.
  virtual std::vector<SummaryRow> summary();

 protected:
  Network() = default;
};

}  // namespace strata
