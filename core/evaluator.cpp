#include "core/evaluator.h"

#include <chrono>
#include <string>
#include <vector>

#include "core/clock.h"

namespace strata {

ClassificationEvaluator::ClassificationEvaluator(std::string task, torch::Tensor inputs,
                                                 torch::Tensor labels, int64_t batch_size,
                                                 torch::Device device, torch::Tensor attention_mask)
    : task_(std::move(task)),
      inputs_(std::move(inputs)),
      labels_(std::move(labels)),
      attention_mask_(std::move(attention_mask)),
      batch_size_(batch_size),
      device_(device) {}

Metrics ClassificationEvaluator::evaluate(Network& model) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t n = labels_.size(0);
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0.0;
  int64_t correct = 0;
  std::vector<torch::Tensor> predicted;  // per batch, on the CPU (per_class_ only)
  for (int64_t i = 0; i < n; i += batch_size_) {
    const int64_t end = std::min(n, i + batch_size_);
    Batch batch{inputs_.slice(0, i, end), labels_.slice(0, i, end), {},
                attention_mask_.defined() ? attention_mask_.slice(0, i, end) : torch::Tensor()};
    batch = batch.to(device_);
    auto logits = model.forward(batch);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.target,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += (logits.argmax(1) == batch.target).sum().item<int64_t>();
    if (per_class_) predicted.push_back(logits.argmax(1).cpu());
  }
  model.train(was_training);
  const double seconds = seconds_since(t0);
  Metrics out = {{"eval/" + task_ + "/acc", double(correct) / double(n)},
                 {"eval/" + task_ + "/loss", loss_sum / double(n)},
                 {"timing/" + task_ + "/examples_per_s", seconds > 0 ? double(n) / seconds : 0.0}};
  if (per_class_ && n > 0) {
    const torch::Tensor pred = torch::cat(predicted);
    const torch::Tensor labels = labels_.cpu();
    const int64_t classes = labels.max().item<int64_t>() + 1;
    for (int64_t k = 0; k < classes; ++k) {
      const torch::Tensor of_k = labels == k;
      const int64_t count = of_k.sum().item<int64_t>();
      if (count == 0) continue;
      const int64_t hits = (pred.masked_select(of_k) == k).sum().item<int64_t>();
      out["eval/" + task_ + "/acc_class_" + std::to_string(k)] = double(hits) / double(count);
    }
  }
  return out;
}

}  // namespace strata
