#include "core/objectives.h"

namespace strata {

const config::EnumNames<ObjectiveType>& objective_type_names() {
  static const config::EnumNames<ObjectiveType> names = {
      {"classification", ObjectiveType::kClassification},
      {"causal_lm", ObjectiveType::kCausalLM},
      {"masked_lm", ObjectiveType::kMaskedLM}};
  return names;
}

void read_options(config::Reader r, ObjectiveOptions& o) {
  r.read_enum("type", o.type, objective_type_names());
  r.read("label_smoothing", o.label_smoothing, config::Range::between(0, 1));
  r.read("mask_prob", o.mask_prob, config::Range::between(0, 1));
  r.finish();
}

LossOutput ClassificationObjective::compute(Network& model, const Batch& batch) {
  LossOutput out;
  if (label_smoothing_ > 0.0) {
    torch::Tensor logits = model.forward(batch);  // [B, K]
    out.loss = torch::nn::functional::cross_entropy(
        logits, batch.target,
        torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
  } else {
    out.loss = model.loss(batch);
  }
  out.count = batch.size();
  return out;
}

LossOutput token_loss(Network& model, const Batch& batch) {
  LossOutput out;
  out.loss = model.loss(batch);
  out.count = (batch.target != -100).sum().item<int64_t>();
  out.processed = batch.input.numel();
  return out;
}

LossOutput CausalLMObjective::compute(Network& model, const Batch& batch) {
  return token_loss(model, batch);
}

}  // namespace strata
