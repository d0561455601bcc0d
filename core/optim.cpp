#include "core/optim.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "core/errors.h"

namespace strata {

const config::EnumNames<OptimizerType>& optimizer_type_names() {
  static const config::EnumNames<OptimizerType> names = {
      {"adam", OptimizerType::kAdam}, {"adamw", OptimizerType::kAdamW}, {"sgd", OptimizerType::kSGD}};
  return names;
}

void read_options(config::Reader r, OptimizerOptions& o) {
  r.read_enum("type", o.type, optimizer_type_names());
  r.read("lr", o.lr, config::Range::positive());
  r.read("betas", o.betas);
  if (o.betas.size() != 2 || o.betas[0] < 0 || o.betas[0] >= 1 || o.betas[1] < 0 ||
      o.betas[1] >= 1) {
    r.fail("betas", "must be two numbers in [0, 1), as in [0.9, 0.95]");
  }
  r.read("eps", o.eps, config::Range::positive());
  r.read("weight_decay", o.weight_decay, config::Range::non_negative());
  r.read("momentum", o.momentum, config::Range::between(0, 1));
  r.read("no_decay", o.no_decay);
  r.read("fused", o.fused);
  if (o.fused && o.type == OptimizerType::kSGD) {
    r.fail("fused", "the fused kernel is Adam's and AdamW's; sgd has none");
  }
  r.finish();
}

Optimizer::Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                     OptimizerOptions options, LrScale lr_scale)
    : options_(std::move(options)), lr_(options_.lr), lr_scale_(std::move(lr_scale)) {
  rebuild(named_params);
}

void Optimizer::rebuild(const std::vector<std::pair<std::string, torch::Tensor>>& named_params) {
  // (exempt from decay, lr scale) -> group; decay groups first, then by falling scale, so
  // that without scales the groups are "decay" and "no_decay" as before.
  std::map<std::pair<bool, double>, Group, std::function<bool(const std::pair<bool, double>&,
                                                              const std::pair<bool, double>&)>>
      by_kind([](const auto& a, const auto& b) {
        return a.first != b.first ? !a.first : a.second > b.second;
      });
  for (const auto& [name, p] : named_params) {
    if (!p.requires_grad()) continue;
    bool exempt = p.dim() < 2;
    for (const auto& pattern : options_.no_decay) {
      if (name.find(pattern) != std::string::npos) exempt = true;
    }
    const double scale = lr_scale_ ? lr_scale_(name) : 1.0;
    Group& g = by_kind[{exempt, scale}];
    if (g.names.empty()) {
      g.name = exempt ? "no_decay" : "decay";
      if (scale != 1.0) g.name += fmt::format("@{:.6g}", scale);
      g.weight_decay = exempt ? 0.0 : options_.weight_decay;
      g.lr_scale = scale;
    }
    g.names.push_back(name);
    g.params.push_back(p);
  }
  groups_.clear();
  for (auto& [kind, g] : by_kind) groups_.push_back(std::move(g));
}

void Optimizer::zero_grad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }
}

namespace {

// One parameter's Adam(W) update in a single pass over contiguous float memory: the same
// operations, in the same order, as the _foreach sequence below, but each element is read
// and written once instead of once per operation (the update is memory-bound).
struct AdamScalars {
  float decay_factor;  // 1 - lr * weight_decay for AdamW, else 1
  float l2;            // weight_decay for Adam (added to the gradient), else 0
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float bias2_sqrt, eps, neg_step_size;
};

void adam_update_fused(float* p, const float* g, float* m, float* v, int64_t n,
                       const AdamScalars& k) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) {
      const float grad = g[i] + k.l2 * p[i];
      const float param = p[i] * k.decay_factor;
      const float avg = m[i] * k.beta1 + grad * k.one_minus_beta1;
      const float avg_sq = v[i] * k.beta2 + k.one_minus_beta2 * grad * grad;
      const float denom = std::sqrt(avg_sq) / k.bias2_sqrt + k.eps;
      m[i] = avg;
      v[i] = avg_sq;
      p[i] = param + k.neg_step_size * avg / denom;
    }
  });
}

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous();
}

}  // namespace

// PyTorch's Adam/AdamW update (torch/optim/adamw.py), for one group's parameters that share
// a step count. Contiguous float tensors on the CPU take the fused single-pass loop; the
// rest (other devices and dtypes) go through _foreach kernels over the whole list: one pass
// per operation, and no temporaries beyond the denominators.
void Optimizer::adam_update(const std::vector<torch::Tensor>& params_in,
                            const std::vector<torch::Tensor>& grads_in,
                            const std::vector<torch::Tensor>& exp_avg_in,
                            const std::vector<torch::Tensor>& exp_avg_sq_in, int64_t step,
                            double weight_decay, double lr) {
  const double beta1 = options_.betas[0], beta2 = options_.betas[1];
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  const bool adamw = options_.type == OptimizerType::kAdamW;

  if (options_.fused) {
    // The kernel takes each parameter's step count as a float tensor on its device, already
    // incremented (torch/optim/adam.py, _fused_adam).
    std::vector<torch::Tensor> steps;
    steps.reserve(params_in.size());
    for (const auto& p : params_in) {
      steps.push_back(torch::full({}, double(step), p.options().dtype(torch::kFloat)));
    }
    const std::vector<torch::Tensor> none;  // max_exp_avg_sqs: no amsgrad
    if (adamw) {
      at::_fused_adamw_(params_in, grads_in, exp_avg_in, exp_avg_sq_in, none, steps, lr, beta1,
                        beta2, weight_decay, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
    } else {
      at::_fused_adam_(params_in, grads_in, exp_avg_in, exp_avg_sq_in, none, steps, lr, beta1,
                       beta2, weight_decay, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
    return;
  }

  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;  // the unfused ones
  const AdamScalars k{static_cast<float>(adamw ? 1.0 - lr * weight_decay : 1.0),
                      static_cast<float>(adamw ? 0.0 : weight_decay),
                      static_cast<float>(beta1),
                      static_cast<float>(1.0 - beta1),
                      static_cast<float>(beta2),
                      static_cast<float>(1.0 - beta2),
                      static_cast<float>(bias2_sqrt),
                      static_cast<float>(options_.eps),
                      static_cast<float>(-lr / bias1)};
  for (size_t i = 0; i < params_in.size(); ++i) {
    const auto &p = params_in[i], &g = grads_in[i], &m = exp_avg_in[i], &v = exp_avg_sq_in[i];
    if (fusable(p) && fusable(g) && fusable(m) && fusable(v)) {
      adam_update_fused(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                        v.data_ptr<float>(), p.numel(), k);
    } else {
      params.push_back(p);
      grads.push_back(g);
      exp_avg.push_back(m);
      exp_avg_sq.push_back(v);
    }
  }
  if (params.empty()) return;

  if (weight_decay != 0.0) {
    if (adamw) {
      at::_foreach_mul_(params, 1.0 - lr * weight_decay);
    } else {
      grads = at::_foreach_add(grads, params, weight_decay);
    }
  }
  at::_foreach_mul_(exp_avg, beta1);
  at::_foreach_add_(exp_avg, grads, 1.0 - beta1);
  at::_foreach_mul_(exp_avg_sq, beta2);
  at::_foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2);
  std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sq);
  at::_foreach_div_(denom, bias2_sqrt);
  at::_foreach_add_(denom, options_.eps);
  at::_foreach_addcdiv_(params, exp_avg, denom, -lr / bias1);
}

void Optimizer::step() {
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    // Adam: the group's parameters by step count (one list unless a freeze change left
    // some parameters behind), each list updated at once.
    struct Lists {
      std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
    };
    std::map<int64_t, Lists> by_step;
    for (size_t i = 0; i < g.params.size(); ++i) {
      const torch::Tensor& p = g.params[i];
      if (!p.grad().defined()) continue;
      ParamState& s = state_[g.names[i]];
      if (options_.type == OptimizerType::kSGD) {
        torch::Tensor grad = p.grad();
        if (g.weight_decay != 0.0) grad = grad.add(p, g.weight_decay);
        if (!s.exp_avg.defined()) {
          s.exp_avg = grad.clone();
        } else {
          s.exp_avg.mul_(options_.momentum).add_(grad);
        }
        s.step += 1;
        p.add_(s.exp_avg, -lr_ * g.lr_scale);
        continue;
      }
      if (!s.exp_avg.defined()) {
        s.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        s.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      }
      s.step += 1;
      Lists& l = by_step[s.step];
      l.params.push_back(p);
      l.grads.push_back(p.grad());
      l.exp_avg.push_back(s.exp_avg);
      l.exp_avg_sq.push_back(s.exp_avg_sq);
    }
    for (const auto& [step, l] : by_step) {
      adam_update(l.params, l.grads, l.exp_avg, l.exp_avg_sq, step, g.weight_decay, lr_ * g.lr_scale);
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
    if (key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
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
                      {"lr", lr_ * g.lr_scale},
                      {"lr_scale", g.lr_scale},
                      {"weight_decay", g.weight_decay},
                      {"betas", options_.betas},
                      {"eps", options_.eps},
                      {"params", g.names.size()}});
  }
  return {{"type", config::enum_name(options_.type, optimizer_type_names())}, {"groups", groups}};
}

}  // namespace strata
