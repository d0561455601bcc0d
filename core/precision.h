#pragma once
// The accelerator switches of a training run (`trainer:` keys), and what they do on the
// device the run got. Each one that needs CUDA falls back on the CPU with one log line:
//
// - dtype: float32 (default) | bfloat16. bfloat16 runs the forward pass and the loss under
//   autocast (LibTorch 2.x at::autocast, per device type): matmuls and convolutions in bf16,
//   reductions and the loss in fp32, weights and optimizer state in fp32 (mixed precision
//   as in Micikevicius et al. 2018, arXiv:1710.03740, with bf16 needing no loss scaling).
//   It works on the CPU too, where it is fast only with AMX or AVX512-BF16 (lscpu flags
//   amx_bf16, avx512_bf16).
// - tf32: false (default) | true. fp32 matmuls and convolutions on CUDA use TF32 tensor
//   cores (torch.set_float32_matmul_precision("high")). The CPU has no TF32: no effect.
// - pin_memory: false (default) | true. Token and image batches are copied into pinned host
//   memory and on to the GPU with non_blocking copies. On the CPU there is no copy to make.

#include <torch/torch.h>

#include <string>

#include "core/config.h"

namespace strata {

enum class Precision { kFloat32, kBFloat16 };
const config::EnumNames<Precision>& precision_names();  // float32, bfloat16

struct ComputeOptions {
  Precision dtype = Precision::kFloat32;
  bool tf32 = false;
  bool pin_memory = false;
};

// What the switches become on `device`; logs one line per switch that falls back (when
// `log` is true, e.g. on rank 0 only). tf32 is a process-wide setting: it is applied here.
ComputeOptions resolve_compute(const ComputeOptions& asked, const torch::Device& device, bool log);

// Autocast to bf16 on `device`'s type for the guard's lifetime when `enabled`; nothing
// otherwise. Nests: the previous state is restored, and the cast cache is cleared when the
// outermost guard ends (as torch.autocast's __exit__ does).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  at::DeviceType type_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

// `t` on `device`: for a CUDA device with `pin`, through pinned host memory and a
// non_blocking copy (the copy is ordered on the current stream, so later kernels see it).
// Undefined tensors stay undefined.
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device, bool pin);

}  // namespace strata
