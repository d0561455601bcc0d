#pragma once
// What differs between the LibTorch versions Strata builds against: 2.11 (a lent GPU
// machine's own PyTorch) to 2.14 (the wheel scripts/bootstrap.sh installs). A difference
// found later goes here, as a name that code elsewhere asks, never TORCH_VERSION_* itself.
//
// Every 2.x API Strata calls (scaled_dot_product_attention, set_autocast_enabled(device, ..),
// _fused_adamw_ with its CPU kernel, c10d::Backend) has the same signature from 2.11 to
// 2.14, so today nothing else is here.

#include <torch/version.h>

static_assert(TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 11),
              "Strata needs LibTorch 2.11 or newer (docs/building.md)");
