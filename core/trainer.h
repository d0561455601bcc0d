#pragma once
// The training loop shared by pre-training, fine-tuning and the stage-3 CNN.
//
// Trainer::run() is the loop plus calls to small policy objects (schedule, evaluator,
// checkpointer, metrics); everything model- or task-specific arrives through the
// Objective, the BatchSource and the Evaluator.

#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/data/loader.h"
#include "core/evaluator.h"
#include "core/log.h"
#include "core/network.h"
#include "core/objectives.h"
#include "core/optim.h"
#include "core/schedule.h"
#include "core/trainer_state.h"

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
  // Keeps the weights of the best evaluation of this metric ("eval/validation/acc") in
  // out_dir/best/ and, at the end, evaluates and reports those weights. Lower is better
  // for metrics named *loss* or *perplexity*, higher for the rest. "": off.
  std::string best_metric;
  // Stops after this many evaluations without a better best_metric; 0: never.
  int64_t early_stop = 0;
  // dtype (bf16 autocast), tf32, pin_memory: core/precision.h.
  ComputeOptions compute;
};

// The batch keys of `trainer:`, read with TrainerOptions but used by the data assembly.
struct BatchOptions {
  int64_t batch_size = 64;      // examples (or sequences) per micro-batch, all ranks together
  int64_t tokens_per_step = 0;  // LM: accumulate micro-batches up to this many tokens; 0: off
};

// `trainer:`; finishes the section.
void read_options(config::Reader r, TrainerOptions& o, BatchOptions& b);

// Gradient averaging across data-parallel ranks (core/distributed implements it).
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual void all_reduce_gradients(const std::vector<torch::Tensor>& params) = 0;
  virtual double all_reduce_mean(double value) = 0;
  virtual int rank() const = 0;
  virtual int world() const = 0;
};

// Which parameters train at each step (fine-tuning's frozen base, first N blocks frozen,
// gradual unfreezing). The trainer calls apply() before every step and, when it reports a
// change, rebuilds the optimizer's groups from the parameters that require grad.
class FreezePolicy {
 public:
  virtual ~FreezePolicy() = default;
  // Sets requires_grad on the model's parameters for optimizer step `step` (0-based);
  // true when anything changed.
  virtual bool apply(int64_t step, Network& model) = 0;
  // Puts the frozen modules of a training model in eval mode (core/freeze.h); called
  // before every optimizer step, after apply() and after any evaluation.
  virtual void set_modes(Network& /*model*/) const {}
  // The policy's position (saved in state.json under "freeze") and its restore.
  virtual nlohmann::json state() const = 0;
  virtual void load_state(const nlohmann::json& state) = 0;
  // The learning-rate multiplier of a parameter (layer-wise decay); 1 by default.
  virtual double lr_scale(const std::string& /*name*/) const { return 1.0; }
};

// An evaluator and how often it runs (in optimizer steps; 0: trainer.eval_every).
struct ScheduledEvaluator {
  std::shared_ptr<Evaluator> evaluator;
  int64_t every = 0;
};

struct TrainerParts {
  std::shared_ptr<Network> model;
  std::shared_ptr<Objective> objective;
  std::shared_ptr<data::BatchSource> train;
  std::vector<ScheduledEvaluator> evaluators;  // may be empty
  std::shared_ptr<FreezePolicy> freeze;        // null: every parameter trains
  std::shared_ptr<GradientSync> sync;          // null for one process
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
  // Returns the step and the last evaluation's metrics.
  nlohmann::json run(bool resume);

  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  // One optimizer step: grad_accum micro-batches, gradient sync, clipping, update.
  // Returns the step's mean loss (over ranks).
  double train_step();
  // Writes the metrics row of the steps since the last one (which took `seconds`) and
  // starts a new window; returns the throughput (units per second, all ranks).
  double log_metrics(double seconds);
  // Runs the evaluators due at this step; their metrics go into history and metrics.jsonl.
  // Returns the line to print ("" when none was due).
  std::string evaluate_due();
  Metrics evaluate_all();
  double clip_gradients();
  void apply_freeze_policy();
  TrainerState capture_state() const;
  void restore_state(const TrainerState& state);
  void save_checkpoint();
  void resume_from(const std::string& checkpoint_dir);
  // best_metric: true when the evaluation at this step is the best so far (and saves it).
  bool track_best(const Metrics& m);
  // The evaluations since the best one (early stopping), from history_.
  int64_t evaluations_since_best() const;
  bool better(double a, double b) const;
  bool rank0() const { return !parts_.sync || parts_.sync->rank() == 0; }
  bool bf16() const { return options_.compute.dtype == Precision::kBFloat16; }

  TrainerOptions options_;
  ScheduleOptions schedule_options_;
  TrainerParts parts_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<Checkpointer> checkpointer_;
  MetricsWriter metrics_;
  std::ofstream trace_;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  // Loss since the last metrics row; kept in state.json so a resumed run logs the same.
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
  int64_t units_ = 0;  // tokens or examples read since the last metrics row
  nlohmann::json history_ = nlohmann::json::object();  // eval metrics so far, by step
  Metrics last_eval_;
};

// Model tensors as checkpoints name them: named_parameters() then named_buffers().
NamedTensors model_tensors(torch::nn::Module& model);
// Copies checkpoint tensors into the model by name; a missing, extra or misshapen tensor
// is an InputError naming it.
void load_model_tensors(torch::nn::Module& model, const NamedTensors& tensors,
                        const std::string& where);

}  // namespace strata
