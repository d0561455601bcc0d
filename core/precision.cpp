#include "core/precision.h"

#include <ATen/autocast_mode.h>

#include "core/log.h"

namespace strata {

const config::EnumNames<Precision>& precision_names() {
  static const config::EnumNames<Precision> names = {{"float32", Precision::kFloat32},
                                                     {"bfloat16", Precision::kBFloat16}};
  return names;
}

ComputeOptions resolve_compute(const ComputeOptions& asked, const torch::Device& device, bool log) {
  ComputeOptions out = asked;
  const bool cuda = device.is_cuda();
  if (asked.tf32 && !cuda) {
    out.tf32 = false;
    if (log) log::info("tf32: no GPU, so fp32 matmuls stay fp32 (the CPU has no TF32)");
  }
  if (asked.pin_memory && !cuda) {
    out.pin_memory = false;
    if (log) log::info("pin_memory: no GPU, so batches stay where they are (no copy to pin)");
  }
  if (cuda) {
    // torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32, set both ways so that a
    // second run in the same process (a sweep) does not inherit the first one's choice.
    at::globalContext().setFloat32MatmulPrecision(out.tf32 ? "high" : "highest");
    at::globalContext().setAllowTF32CuDNN(out.tf32);
  }
  return out;
}

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled)
    : enabled_(enabled), type_(device.type()) {
  if (!enabled_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, previous_enabled_);
  at::autocast::set_autocast_dtype(type_, previous_dtype_);
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device, bool pin) {
  if (!t.defined()) return t;
  if (pin && device.is_cuda() && t.device().is_cpu()) {
    return t.pin_memory().to(device, /*non_blocking=*/true);
  }
  return t.to(device);
}

}  // namespace strata
