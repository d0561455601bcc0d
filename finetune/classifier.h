#pragma once
// A network under a new classification head: the design notes' TaskSpecificModel
// (a pre-trained base, its features pooled, a new Linear head over the task's classes).
//
//   logits [B, K] = head(dropout(base.features(batch, pooling)))
//
// The base's parts that its features use are registered here under their own names, so
// parameter names stay the base's ("transformer.h.0.attn.c_attn.weight") and a checkpoint of
// the base loads by name; the parts the features do not use (BERT's masked-LM head "cls",
// the CNN's dense layers and old head) are left out. The head is named as Hugging Face
// names it: "score" on a GPT (GPT2ForSequenceClassification), "classifier" on BERT
// (BertForSequenceClassification) and on the CNN.

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/network.h"

namespace strata::finetune {

struct HeadOptions {
  int64_t num_classes = 2;
  Pooling pooling = Pooling::kDefault;  // see core/network.h
  double dropout = 0.0;                 // on the features, before the head
};

class ClassifierImpl : public Network {
 public:
  // `base`: a GPT, BERT or CNN of the zoo (another family is an InputError).
  ClassifierImpl(std::shared_ptr<Network> base, const HeadOptions& options);

  // Class logits [B, K] for the base's input (token ids [B, T] with attention_mask, or
  // images [B, C, H, W]).
  torch::Tensor forward(const Batch& batch) override;
  torch::Tensor features(const Batch& batch, Pooling pooling = Pooling::kDefault) override;
  int64_t num_features() const override { return base_->num_features(); }
  int64_t context_length() const override { return base_->context_length(); }
  int64_t vocab_size() const override { return base_->vocab_size(); }
  std::vector<SummaryRow> summary() override;
  void train(bool on = true) override;

  // The head's parameter prefix ("score." or "classifier.").
  std::string head_prefix() const { return head_name_ + "."; }
  // Base children left out (their parameters are not part of this model): "cls", ...
  const std::vector<std::string>& dropped() const { return dropped_; }
  Network& base() { return *base_; }
  // Called at the start of every forward (LoRA recomputes its adapted weights there).
  void set_before_forward(std::function<void()> hook) { before_forward_ = std::move(hook); }

 private:
  std::shared_ptr<Network> base_;
  HeadOptions options_;
  std::string head_name_;
  std::vector<std::string> kept_, dropped_;
  torch::nn::Linear head_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  std::function<void()> before_forward_;
};
TORCH_MODULE(Classifier);

}  // namespace strata::finetune
