#include "core/objectives.h"

namespace strata {

LossOutput ClassificationObjective::compute(Network& model, const Batch& batch) {
  torch::Tensor logits = model.forward(batch);  // [B, K]
  LossOutput out;
  out.loss = torch::nn::functional::cross_entropy(
      logits, batch.target,
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
  out.correct = (logits.argmax(1) == batch.target).sum();
  out.count = batch.size();
  return out;
}

LossOutput token_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t V = logits.size(-1);
  auto flat_logits = logits.reshape({-1, V});  // [B*T, V]
  auto flat_target = target.reshape({-1});     // [B*T]
  LossOutput out;
  out.loss = torch::nn::functional::cross_entropy(
      flat_logits, flat_target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  auto counted = flat_target != -100;
  out.correct = ((flat_logits.argmax(1) == flat_target) & counted).sum();
  out.count = counted.sum().item<int64_t>();
  return out;
}

LossOutput CausalLMObjective::compute(Network& model, const Batch& batch) {
  return token_cross_entropy(model.forward(batch), batch.target);
}

}  // namespace strata
