#pragma once
// Adam and AdamW with parameter groups, written here rather than taken from torch::optim:
// its state is keyed by parameter name (so a checkpoint survives rebuilt groups after a
// freeze change), and it keeps its own learning rates and group options in state.json.
//
// Groups follow nanoGPT and the BERT recipe: weight decay on matrices (dim >= 2) only;
// biases, norms and embeddings are not decayed.

#include <torch/torch.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/safetensors.h"

namespace strata {

enum class OptimizerType {
  kAdam,   // Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient
  kAdamW,  // AdamW (Loshchilov & Hutter 2019): decoupled weight decay
  kSGD,    // SGD with (heavy-ball) momentum
};
const config::EnumNames<OptimizerType>& optimizer_type_names();  // adam, adamw, sgd

struct OptimizerOptions {
  OptimizerType type = OptimizerType::kAdamW;
  double lr = 1e-3;
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;  // on decayed parameters only
  double momentum = 0.9;      // sgd
  // Parameters whose name contains one of these are never decayed, whatever their shape.
  std::vector<std::string> no_decay = {"bias", "norm", "ln", "wte", "wpe", "embeddings"};
  // adam(w): LibTorch's fused kernel (at::_fused_adam_ / at::_fused_adamw_, torch.optim's
  // `fused=True`), one launch per list on CUDA and a vectorised loop on the CPU (since 2.4).
  // false: Strata's own single-pass loop on the CPU and _foreach kernels elsewhere.
  bool fused = false;
};

// `optimizer:` {type, lr, betas, eps, weight_decay, momentum, no_decay, fused}; finishes the
// section. fused with sgd is an InputError.
void read_options(config::Reader r, OptimizerOptions& o);

class Optimizer {
 public:
  struct Group {
    std::string name;  // "decay" | "no_decay", with "@<lr_scale>" when the scale is not 1
    std::vector<std::string> names;
    std::vector<torch::Tensor> params;
    double weight_decay = 0.0;
    double lr_scale = 1.0;  // the group's rate is lr() * lr_scale (layer-wise decay)
  };
  // A parameter's learning-rate multiplier, by name (1 for every parameter when unset).
  using LrScale = std::function<double(const std::string& name)>;

  // Builds groups from the parameters that require grad; with `lr_scale`, parameters of
  // one decay kind are grouped further by their multiplier.
  Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
            OptimizerOptions options, LrScale lr_scale = nullptr);

  void step();
  // Sets gradients undefined, so frozen parameters and skipped ones stay untouched.
  void zero_grad();

  // The learning rate of the next step (the schedule sets it each step).
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  const OptimizerOptions& options() const { return options_; }
  const std::vector<Group>& groups() const { return groups_; }

  // Rebuilds groups after a freeze change; state is kept by name.
  void rebuild(const std::vector<std::pair<std::string, torch::Tensor>>& named_params);

  // "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.step" (and "<param>.momentum").
  NamedTensors state_tensors() const;
  void load_state_tensors(const NamedTensors& tensors);
  // Each group's hyperparameters, for state.json.
  nlohmann::json groups_json() const;

 private:
  struct ParamState {
    torch::Tensor exp_avg, exp_avg_sq;  // adam(w); exp_avg is the momentum buffer for sgd
    int64_t step = 0;
  };
  void adam_update(const std::vector<torch::Tensor>& params,
                   const std::vector<torch::Tensor>& grads,
                   const std::vector<torch::Tensor>& exp_avg,
                   const std::vector<torch::Tensor>& exp_avg_sq, int64_t step, double weight_decay,
                  double lr);

  OptimizerOptions options_;
  double lr_;
  LrScale lr_scale_;
  std::vector<Group> groups_;
  std::map<std::string, ParamState> state_;
};

}  // namespace strata
