#pragma once
// What differs between the LibTorch versions Strata builds against: Debian's 1.13.1 (CPU)
// and the 2.x inside a GPU machine's PyTorch. Code elsewhere asks these names, never
// TORCH_VERSION_* itself, so that a new difference is one place to change.

#include <torch/torch.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#define STRATA_HAS_SDPA 1
#else
#define STRATA_HAS_SDPA 0
#endif

namespace strata::compat {

// at::scaled_dot_product_attention exists (2.0+): fused flash / memory-efficient kernels.
constexpr bool kHasSdpa = STRATA_HAS_SDPA;

// at::scaled_dot_product_attention where it exists. On 1.13 it must not be called (callers
// test kHasSdpa and take their own explicit path); it fails loudly if it is.
// q [B, H, Tq, hs], k and v [B, H, Tk, hs], mask broadcastable to [B, H, Tq, Tk] (additive
// float, or bool where true = attend). Scale is 1/sqrt(hs).
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& mask, double dropout_p,
                                                  bool is_causal) {
#if STRATA_HAS_SDPA
  // Two calls rather than one optional: the mask parameter is c10::optional in 2.0-2.2
  // and std::optional (aliased) later, and `{}` means "none" for both.
  if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal);
  return at::scaled_dot_product_attention(q, k, v, {}, dropout_p, is_causal);
#else
  (void)q, (void)k, (void)v, (void)mask, (void)dropout_p, (void)is_causal;
  TORCH_CHECK(false, "scaled_dot_product_attention needs LibTorch 2.x");
  return torch::Tensor();
#endif
}

}  // namespace strata::compat
