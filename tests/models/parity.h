#pragma once
// Shared by the GPT and BERT parity tests: a temporary directory, the Python reference
// (tests/models/gpt_parity.py under the .venv's python, core/python.h, on the same torch wheel),
// and the training steps both sides take (AdamW, betas 0.9/0.95, weight decay 0.1 on
// parameters with dim >= 2 only, lr 1e-3): Strata's own optimizer (core/optim.h) here,
// torch.optim.AdamW there.

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <catch2/catch.hpp>  // after LibTorch: glog defines CHECK too

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/optim.h"
#include "core/python.h"
#include "core/safetensors.h"
#include "tests/support/temp_dir.h"

namespace strata::test {

inline const std::string kPython = strata::python_program();

using strata::testing::TempDir;

inline NamedTensors named_parameters_of(const torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach());
  return out;
}

struct ParityRun {
  torch::Tensor first_logits;  // the initial model's logits
  std::vector<double> losses;  // before each step, then after the last
};

// The initial logits(), then `steps` AdamW steps on loss() (the model's fused training
// loss, which the Python side computes as cross-entropy of its logits, ignore_index -100).
inline ParityRun train_steps(torch::nn::Module& model, const std::function<torch::Tensor()>& logits,
                             const std::function<torch::Tensor()>& loss_of_model,
                             const nlohmann::json& cfg) {
  OptimizerOptions adamw;
  adamw.type = strata::OptimizerType::kAdamW;
  adamw.lr = cfg["lr"];
  adamw.betas = {double(cfg["betas"][0]), double(cfg["betas"][1])};
  adamw.weight_decay = cfg["weight_decay"];
  adamw.no_decay = {};  // as the Python side: every matrix decayed, embeddings included
  NamedTensors named;
  for (const auto& p : model.named_parameters()) named.emplace_back(p.key(), p.value());
  Optimizer opt(named, adamw);

  ParityRun out;
  const int steps = cfg["steps"];
  {
    torch::NoGradGuard no_grad;
    out.first_logits = logits().detach().clone();
  }
  for (int step = 0; step <= steps; ++step) {
    auto loss = loss_of_model();
    out.losses.push_back(loss.item<double>());
    if (step == steps) break;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  return out;
}

// Writes config.json, model.safetensors and batch.safetensors into dir, runs the Python
// reference, and returns what it wrote (python.safetensors).
inline SafetensorsFile run_python_reference(const std::string& dir, const nlohmann::json& cfg,
                                            const NamedTensors& weights, const NamedTensors& batch) {
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  write_safetensors(dir + "/model.safetensors", weights);
  write_safetensors(dir + "/batch.safetensors", batch);
  const std::string probe = std::string(kPython) + " -c 'import torch, numpy' 2>/dev/null";
  if (std::system(probe.c_str()) != 0) {
    FAIL(kPython << " cannot import torch and numpy: run scripts/bootstrap.sh (it makes .venv)");
  }
  const std::string cmd = std::string(kPython) + " " STRATA_SOURCE_DIR "/tests/models/gpt_parity.py " +
                          dir + " > " + dir + "/python.log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::ifstream log(dir + "/python.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    FAIL("python reference failed (" << rc << "):\n" << text);
  }
  return read_safetensors(dir + "/python.safetensors");
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// What both parity tests check after train_steps: the initial logits (1e-5), the four
// losses (1e-4, and falling), and every parameter after the steps (1e-4).
inline void check_against_python(const ParityRun& ours, const SafetensorsFile& py,
                                  torch::nn::Module& model) {
  CHECK(max_abs_diff(ours.first_logits, py.get("logits")) < 1e-5);
  auto py_losses = py.get("losses");
  REQUIRE(py_losses.numel() == int64_t(ours.losses.size()));
  for (size_t i = 0; i < ours.losses.size(); ++i) {
    INFO("loss " << i << ": strata " << ours.losses[i] << " python " << py_losses[i].item<double>());
    CHECK(std::abs(ours.losses[i] - py_losses[i].item<double>()) < 1e-4);
  }
  CHECK(ours.losses.back() < ours.losses.front());
  for (const auto& p : model.named_parameters()) {
    INFO(p.key());
    CHECK(max_abs_diff(p.value().detach(), py.get(p.key())) < 1e-4);
  }
}

}  // namespace strata::test
