#include "core/optim.h"

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

// A matrix, a vector and a 3-D tensor, as a model's weights, biases and kernels.
NamedTensors make_params(torch::Dtype dtype) {
  torch::manual_seed(0);
  NamedTensors params = {{"layer.weight", torch::randn({7, 5})},
                         {"layer.bias", torch::randn({5})},
                         {"conv.weight", torch::randn({3, 2, 4})}};
  for (auto& [name, p] : params) p = p.to(dtype).requires_grad_();
  return params;
}

// Gradients for `step`, the same on every side.
std::vector<torch::Tensor> grads_for(int step, const NamedTensors& params) {
  torch::manual_seed(100 + step);
  std::vector<torch::Tensor> grads;
  for (const auto& [name, p] : params) grads.push_back(torch::randn(p.sizes()).to(p.dtype()));
  return grads;
}

void set_grads(const NamedTensors& params, const std::vector<torch::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].second.mutable_grad() = grads[i].clone();
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

OptimizerOptions options(OptimizerType type) {
  OptimizerOptions o;
  o.type = type;
  o.lr = 1e-2;
  o.betas = {0.9, 0.95};
  o.weight_decay = 0.1;
  o.no_decay = {};  // only 1-D parameters are exempt
  return o;
}

}  // namespace

namespace {

// LibTorch's optimizer of type Torch over `params`, split into a decayed group (where
// `decayed(name, p)`) and an undecayed one, with the settings of options().
template <typename Torch, typename TorchOptions, typename Decayed>
Torch torch_reference(const NamedTensors& params, const Decayed& decayed) {
  std::vector<torch::Tensor> decay, rest;
  for (const auto& [name, p] : params) (decayed(name, p) ? decay : rest).push_back(p);
  const auto betas = std::make_tuple(0.9, 0.95);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<TorchOptions>(
                                 TorchOptions(1e-2).betas(betas).weight_decay(0.1)));
  groups.emplace_back(rest, std::make_unique<TorchOptions>(
                                TorchOptions(1e-2).betas(betas).weight_decay(0.0)));
  return Torch(groups, TorchOptions(1e-2));
}

// Six steps of both optimizers on the same gradients; then every parameter agrees to
// 1e-6 and has moved.
void check_same_steps(NamedTensors& ours, Optimizer& opt, NamedTensors& theirs,
                      torch::optim::Optimizer& reference) {
  for (int step = 0; step < 6; ++step) {
    const auto grads = grads_for(step, ours);
    set_grads(ours, grads);
    set_grads(theirs, grads);
    opt.step();
    reference.step();
  }
  for (size_t i = 0; i < ours.size(); ++i) {
    INFO(ours[i].first);
    CHECK(max_diff(ours[i].second, theirs[i].second) < 1e-6);
    CHECK(max_diff(ours[i].second, make_params(torch::kFloat)[i].second) > 1e-3);  // it moved
  }
}

}  // namespace

TEST_CASE("optim: AdamW matches torch::optim::AdamW, decay on dim >= 2 only", "[optim]") {
  auto ours = make_params(torch::kFloat), theirs = make_params(torch::kFloat);
  Optimizer opt(ours, options(OptimizerType::kAdamW));
  auto reference = torch_reference<torch::optim::AdamW, torch::optim::AdamWOptions>(
      theirs, [](const std::string&, const torch::Tensor& p) { return p.dim() >= 2; });
  check_same_steps(ours, opt, theirs, reference);
}

TEST_CASE("optim: Adam adds the decay to the gradient, as torch::optim::Adam", "[optim]") {
  auto ours = make_params(torch::kFloat), theirs = make_params(torch::kFloat);
  auto o = options(OptimizerType::kAdam);
  o.no_decay = {"bias"};
  Optimizer opt(ours, o);
  auto reference = torch_reference<torch::optim::Adam, torch::optim::AdamOptions>(
      theirs, [](const std::string& name, const torch::Tensor&) {
        return name.find("bias") == std::string::npos;
      });
  check_same_steps(ours, opt, theirs, reference);
}

TEST_CASE("optim: the fused CPU loop and the _foreach kernels give the same update", "[optim]") {
  // Float CPU tensors take the single-pass loop; double ones the _foreach path.
  for (const OptimizerType type : {OptimizerType::kAdam, OptimizerType::kAdamW}) {
    DYNAMIC_SECTION(config::enum_name(type, optimizer_type_names())) {
      auto fused = make_params(torch::kFloat), foreach = make_params(torch::kDouble);
      Optimizer a(fused, options(type)), b(foreach, options(type));
      for (int step = 0; step < 6; ++step) {
        set_grads(fused, grads_for(step, fused));
        set_grads(foreach, grads_for(step, foreach));
        a.set_lr(1e-2 * (step + 1));
        b.set_lr(1e-2 * (step + 1));
        a.step();
        b.step();
      }
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO(fused[i].first);
        CHECK(max_diff(fused[i].second, foreach[i].second) < 1e-5);
      }
      const auto sa = a.state_tensors(), sb = b.state_tensors();
      REQUIRE(sa.size() == sb.size());
      for (size_t i = 0; i < sa.size(); ++i) CHECK(max_diff(sa[i].second, sb[i].second) < 1e-5);
    }
  }
}

TEST_CASE("optim: fused: true (at::_fused_adamw_ on the CPU) gives the plain path's update",
          "[optim]") {
  for (const OptimizerType type : {OptimizerType::kAdam, OptimizerType::kAdamW}) {
    DYNAMIC_SECTION(config::enum_name(type, optimizer_type_names())) {
      auto fused = make_params(torch::kFloat), plain = make_params(torch::kFloat);
      auto o = options(type);
      o.fused = true;
      Optimizer a(fused, o), b(plain, options(type));
      for (int step = 0; step < 6; ++step) {
        set_grads(fused, grads_for(step, fused));
        set_grads(plain, grads_for(step, plain));
        a.set_lr(1e-2 * (step + 1));
        b.set_lr(1e-2 * (step + 1));
        a.step();
        b.step();
      }
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO(fused[i].first);
        CHECK(max_diff(fused[i].second, plain[i].second) < 1e-6);
        CHECK(max_diff(fused[i].second, make_params(torch::kFloat)[i].second) > 1e-3);  // it moved
      }
      const auto sa = a.state_tensors(), sb = b.state_tensors();
      REQUIRE(sa.size() == sb.size());
      for (size_t i = 0; i < sa.size(); ++i) CHECK(max_diff(sa[i].second, sb[i].second) < 1e-6);
    }
  }
}
