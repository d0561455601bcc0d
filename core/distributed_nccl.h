#pragma once
// The NCCL half of core/distributed: only compiled into CUDA builds that found nccl.h
// (core/CMakeLists.txt), so that ProcessGroupNCCL.hpp and its CUDA headers stay out of
// every other unit.

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace strata::detail {

// A ProcessGroupNCCL over `store` for `rank` of `world`, on the current CUDA device. Throws
// c10::Error when NCCL cannot initialise.
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int world,
                                                    std::chrono::milliseconds timeout);

}  // namespace strata::detail
