#pragma once
// The training loop shared by pre-training, fine-tuning and the stage-3 CNN.
//
// Trainer::run() is the loop plus calls to small policy objects (schedule, evaluator,
// checkpointer, metrics); everything model- or task-specific arrives through the
// Objective, the BatchSource and the Evaluator.

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/checkpoint.h"
#include "core/data/loader.h"
#include "core/evaluator.h"
#include "core/log.h"
#include "core/network.h"
#include "core/objectives.h"
#include "core/optim.h"
#include "core/schedule.h"

namespace strata {

struct TrainerOptions {
  int64_t max_steps = 0;         // optimizer steps; 0: from epochs
  double epochs = 1.0;           // passes over the training data when max_steps is 0
  int64_t grad_accum = 1;        // micro-batches per optimizer step
  double clip = 0.0;             // max global gradient norm; 0: off
  int64_t log_every = 50;        // steps between metrics rows
  int64_t eval_every = 0;        // steps between evaluations; 0: every epoch
  int64_t checkpoint_every = 0;  // steps between checkpoints; 0: at every evaluation
  int64_t keep_last = 3;         // checkpoints kept; 0 keeps all
  // Each rank appends a hash of every input row it trains on to
  // out_dir/samples/rank-<r>.jsonl ({"step", "micro", "rows"}): an audit of which samples
  // each data-parallel rank saw.
  bool trace_samples = false;
};

// Gradient averaging across data-parallel ranks (core/distributed implements it).
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual void all_reduce_gradients(const std::vector<torch::Tensor>& params) = 0;
  virtual double all_reduce_mean(double value) = 0;
  virtual int rank() const = 0;
  virtual int world() const = 0;
};

struct TrainerParts {
  std::shared_ptr<Network> model;
  std::shared_ptr<Objective> objective;
  std::shared_ptr<data::BatchSource> train;
  std::shared_ptr<Evaluator> evaluator;  // may be null
  std::shared_ptr<GradientSync> sync;    // null for one process
  torch::Device device = torch::kCPU;
  std::string out_dir;
  std::string config_yaml;                                  // the resolved config
  std::function<void(const std::string& dir)> write_extra;  // e.g. tokenizer.model
  double peak_flops = 0.0;                                  // for MFU; 0: not reported
};

class Trainer {
 public:
  Trainer(TrainerOptions options, OptimizerOptions optimizer, ScheduleOptions schedule,
          TrainerParts parts);

  // Trains to the last step, resuming from out_dir's latest checkpoint when `resume`.
  // Returns the last evaluation's metrics (empty without an evaluator).
  nlohmann::json run(bool resume);

  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  void resume_from(const std::string& checkpoint_dir);
  void save_checkpoint();
  Metrics evaluate();
  double clip_gradients();

  TrainerOptions options_;
  TrainerParts parts_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<Checkpointer> checkpointer_;
  MetricsWriter metrics_;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  // Loss since the last metrics row; kept in state.json so a resumed run logs the same.
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
  nlohmann::json history_ = nlohmann::json::object();  // eval metrics so far, by step
};

// Model tensors as checkpoints name them: named_parameters() then named_buffers().
NamedTensors model_tensors(torch::nn::Module& model);
// Copies checkpoint tensors into the model by name; a missing, extra or misshapen tensor
// is an InputError naming it.
void load_model_tensors(torch::nn::Module& model, const NamedTensors& tensors,
                        const std::string& where);

}  // namespace strata
