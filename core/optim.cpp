#include "core/optim.h"

#include <fmt/format.h>

#include <cmath>

#include "core/errors.h"

namespace strata {

Optimizer::Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                     OptimizerOptions options)
    : options_(std::move(options)), lr_(options_.lr) {
  rebuild(named_params);
}

void Optimizer::rebuild(const std::vector<std::pair<std::string, torch::Tensor>>& named_params) {
  Group decay{"decay", {}, {}, options_.weight_decay};
  Group no_decay{"no_decay", {}, {}, 0.0};
  for (const auto& [name, p] : named_params) {
    if (!p.requires_grad()) continue;
    bool exempt = p.dim() < 2;
    for (const auto& pattern : options_.no_decay) {
      if (name.find(pattern) != std::string::npos) exempt = true;
    }
    Group& g = exempt ? no_decay : decay;
    g.names.push_back(name);
    g.params.push_back(p);
  }
  groups_.clear();
  if (!decay.params.empty()) groups_.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups_.push_back(std::move(no_decay));
}

void Optimizer::zero_grad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }
}

// PyTorch's Adam/AdamW update (torch/optim/adamw.py, single-tensor path), in place.
void Optimizer::adam_update(const torch::Tensor& p, ParamState& s, double weight_decay) {
  torch::Tensor grad = p.grad();
  const double beta1 = options_.betas[0], beta2 = options_.betas[1];
  if (!s.exp_avg.defined()) {
    s.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
    s.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
  }
  s.step += 1;
  if (weight_decay != 0.0) {
    if (options_.type == "adamw") {
      p.mul_(1.0 - lr_ * weight_decay);
    } else {
      grad = grad.add(p, weight_decay);
    }
  }
  s.exp_avg.lerp_(grad, 1.0 - beta1);
  s.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1.0 - beta2);
  const double bias1 = 1.0 - std::pow(beta1, double(s.step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(s.step)));
  torch::Tensor denom = s.exp_avg_sq.sqrt().div_(bias2_sqrt).add_(options_.eps);
  p.addcdiv_(s.exp_avg, denom, -lr_ / bias1);
}

void Optimizer::step() {
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    for (size_t i = 0; i < g.params.size(); ++i) {
      const torch::Tensor& p = g.params[i];
      if (!p.grad().defined()) continue;
      ParamState& s = state_[g.names[i]];
      if (options_.type == "sgd") {
        torch::Tensor grad = p.grad();
        if (g.weight_decay != 0.0) grad = grad.add(p, g.weight_decay);
        if (!s.exp_avg.defined()) {
          s.exp_avg = grad.clone();
        } else {
          s.exp_avg.mul_(options_.momentum).add_(grad);
        }
        s.step += 1;
        p.add_(s.exp_avg, -lr_);
      } else {
        adam_update(p, s, g.weight_decay);
      }
    }
  }
}

NamedTensors Optimizer::state_tensors() const {
  NamedTensors out;
  for (const auto& [name, s] : state_) {
    if (!s.exp_avg.defined()) continue;
    out.emplace_back(name + ".exp_avg", s.exp_avg);
    if (s.exp_avg_sq.defined()) out.emplace_back(name + ".exp_avg_sq", s.exp_avg_sq);
    out.emplace_back(name + ".step", torch::tensor(s.step, torch::kLong));
  }
  return out;
}

void Optimizer::load_state_tensors(const NamedTensors& tensors) {
  std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
  std::map<std::string, torch::Tensor> params;
  for (const auto& g : groups_) {
    for (size_t i = 0; i < g.names.size(); ++i) params[g.names[i]] = g.params[i];
  }
  state_.clear();
  for (const auto& [key, t] : by_name) {
    const std::string suffix = ".step";
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(),
                                                   suffix) != 0) {
      continue;
    }
    std::string name = key.substr(0, key.size() - suffix.size());
    auto p = params.find(name);
    if (p == params.end()) continue;  // a parameter frozen now: its state is not needed
    auto avg = by_name.find(name + ".exp_avg");
    if (avg == by_name.end() || !avg->second.sizes().equals(p->second.sizes())) {
      throw InputError(fmt::format("optimizer state for '{}' does not match the model", name));
    }
    ParamState s;
    s.step = t.item<int64_t>();
    s.exp_avg = avg->second.to(p->second.device()).contiguous();
    auto sq = by_name.find(name + ".exp_avg_sq");
    if (sq != by_name.end()) s.exp_avg_sq = sq->second.to(p->second.device()).contiguous();
    state_[name] = s;
  }
}

nlohmann::json Optimizer::groups_json() const {
  auto groups = nlohmann::json::array();
  for (const auto& g : groups_) {
    groups.push_back({{"name", g.name},
                      {"lr", lr_},
                      {"weight_decay", g.weight_decay},
                      {"betas", options_.betas},
                      {"eps", options_.eps},
                      {"params", g.names.size()}});
  }
  return {{"type", options_.type}, {"groups", groups}};
}

}  // namespace strata
