#pragma once
// The peak rate MFU is measured against: on a GPU the dense bf16 figure of a known part;
// on CPU a float32 matmul rate measured on this machine at start-up, cached per thread count
// under $XDG_CACHE_HOME/strata (or ~/.cache/strata) so later runs skip the measurement.

#include <torch/torch.h>

namespace strata {

// FLOP/s; 0 when unknown (an unrecognised GPU).
double peak_flops(const torch::Device& device);

// Times a 1024^3 float matmul on the current thread count (best of a few), in FLOP/s.
double measure_matmul_flops();

}  // namespace strata
