#pragma once
// Evaluation every N steps. The trainer knows only this interface: `tasks` implements it
// for in-context and task evaluation, and core's own ClassificationEvaluator scores a held
// out image set. Metric names follow `eval/<task>/<metric>`.

#include <torch/torch.h>

#include <map>
#include <string>

#include "core/network.h"

namespace strata {

using Metrics = std::map<std::string, double>;

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual Metrics evaluate(Network& model) = 0;
};

// Accuracy and loss of a classifier on labelled inputs: images [N, C, H, W], or token ids
// [N, T] right-padded with `attention_mask` [N, T] (1 = real token). Metrics:
// eval/<task>/acc, eval/<task>/loss (mean cross-entropy, nats) and
// timing/<task>/examples_per_s (the examples scored per second of wall time, batches
// moved to the device included; a measurement of the machine, not a result: results.json
// keeps it under "timing").
class ClassificationEvaluator : public Evaluator {
 public:
  ClassificationEvaluator(std::string task, torch::Tensor inputs, torch::Tensor labels,
                          int64_t batch_size, torch::Device device,
                          torch::Tensor attention_mask = {});
  Metrics evaluate(Network& model) override;
  // Also eval/<task>/acc_class_<k>: the accuracy on the examples of class k, for each
  // class with examples (recall of class k).
  void set_per_class(bool on) { per_class_ = on; }

 private:
  bool per_class_ = false;
  std::string task_;
  torch::Tensor inputs_, labels_, attention_mask_;
  int64_t batch_size_;
  torch::Device device_;
};

}  // namespace strata
