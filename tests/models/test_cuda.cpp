// [cuda]: the GPU gives the CPU's numbers, and checkpoints move between them. Compiled
// everywhere; each test returns at once (with a warning) where there is no CUDA device, and
// scripts/test.sh leaves them out there.

#include <torch/torch.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/precision.h"
#include "core/trainer.h"
#include "models/gpt/generate.h"
#include "models/gpt/gpt.h"
#include "tests/models/parity.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
using namespace strata::models;

namespace {

bool have_gpu() {
  if (torch::cuda::is_available()) return true;
  WARN("no CUDA device: skipped");
  return false;
}

const torch::Device kGpu(torch::kCUDA, 0);

// The debug GPT, the same weights on both devices.
std::pair<GPT, GPT> gpt_pair() {
  torch::manual_seed(0);
  GPT cpu(gpt_size("debug"));
  GPT gpu(gpt_size("debug"));
  {
    torch::NoGradGuard no_grad;
    auto from = cpu->named_parameters();
    for (auto& p : gpu->named_parameters()) p.value().copy_(from[p.key()]);
  }
  gpu->to(kGpu);
  return {cpu, gpu};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu().to(torch::kDouble) - b.cpu().to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("cuda: forward and loss on the GPU equal the CPU's (fp32, and bf16 autocast)",
          "[cuda][gpt]") {
  if (!have_gpu()) return;
  auto [cpu, gpu] = gpt_pair();
  cpu->eval();
  gpu->eval();
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(256, {2, 32}, torch::kInt64);
  auto target = torch::randint(256, {2, 32}, torch::kInt64);
  auto loss = [](const torch::Tensor& logits, const torch::Tensor& t) {
    return torch::nn::functional::cross_entropy(logits.reshape({-1, 256}).to(torch::kFloat),
                                                t.reshape({-1}).to(logits.device()));
  };
  // TF32 off: fp32 matmuls on both sides.
  at::globalContext().setFloat32MatmulPrecision("highest");
  auto lc = cpu->forward(idx), lg = gpu->forward(idx.to(kGpu));
  CHECK(max_diff(lc, lg) < 1e-4);
  CHECK(std::abs(loss(lc, target).item<double>() - loss(lg, target).item<double>()) < 1e-5);
  // bf16 autocast on each device: bf16 rounding (8 bits of mantissa) on both.
  torch::Tensor bc, bg;
  {
    AutocastGuard a(torch::kCPU, true);
    bc = cpu->forward(idx);
  }
  {
    AutocastGuard a(kGpu, true);
    bg = gpu->forward(idx.to(kGpu));
  }
  CHECK(bg.scalar_type() == torch::kBFloat16);
  CHECK(max_diff(bc, bg) < 0.1);
  CHECK(std::abs(loss(bc, target).item<double>() - loss(bg, target).item<double>()) < 0.02);
}

TEST_CASE("cuda: a checkpoint saved on the GPU loads on the CPU, and the reverse",
          "[cuda][checkpoint]") {
  if (!have_gpu()) return;
  auto [cpu, gpu] = gpt_pair();
  test::TempDir dir("cuda-checkpoint");
  {
    torch::NoGradGuard no_grad;
    for (auto& p : gpu->parameters()) p.add_(0.01);  // the GPU's weights differ now
  }
  CheckpointContents c;
  c.model = model_tensors(*gpu);
  c.state = {{"step", 1}};
  c.config_yaml = "model:\n  type: gpt\n  size: debug\n";
  Checkpointer saver(dir.path + "/gpu", 1);
  const auto from_gpu = saver.save(1, c);
  GPT on_cpu(gpt_size("debug"));
  load_model_tensors(*on_cpu, load_checkpoint(from_gpu).model, from_gpu);
  auto gpu_params = gpu->named_parameters();
  for (const auto& p : on_cpu->named_parameters()) {
    INFO(p.key());
    CHECK(p.value().device().is_cpu());
    CHECK(max_diff(p.value(), gpu_params[p.key()]) == 0.0);
  }

  c.model = model_tensors(*cpu);
  Checkpointer cpu_saver(dir.path + "/cpu", 1);
  const auto from_cpu = cpu_saver.save(1, c);
  GPT on_gpu(gpt_size("debug"));
  on_gpu->to(kGpu);
  load_model_tensors(*on_gpu, load_checkpoint(from_cpu).model, from_cpu);
  auto cpu_params = cpu->named_parameters();
  for (const auto& p : on_gpu->named_parameters()) {
    INFO(p.key());
    CHECK(p.value().device().is_cuda());
    CHECK(max_diff(p.value(), cpu_params[p.key()]) == 0.0);
  }
}

TEST_CASE("cuda: greedy generation on the GPU equals the CPU's", "[cuda][gpt]") {
  if (!have_gpu()) return;
  auto [cpu, gpu] = gpt_pair();
  at::globalContext().setFloat32MatmulPrecision("highest");
  const std::vector<int64_t> prompt = {5, 17, 42, 7, 99};
  const auto greedy = GenerateOptions().temperature(0).max_new_tokens(24);
  CHECK(generate(cpu, prompt, greedy) == generate(gpu, prompt, greedy));
}
