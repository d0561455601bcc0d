// The c10d backend choice, and NCCL at world size 1 on a GPU ([cuda]).

#include "core/distributed.h"

#include <torch/torch.h>

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

TEST_CASE("distributed: auto is Gloo on the CPU; nccl falls back to Gloo there", "[distributed]") {
  CHECK(resolve_backend(DistributedBackend::kAuto, torch::kCPU) == DistributedBackend::kGloo);
  CHECK(resolve_backend(DistributedBackend::kGloo, torch::kCPU) == DistributedBackend::kGloo);
  CHECK(resolve_backend(DistributedBackend::kNccl, torch::kCPU) == DistributedBackend::kGloo);
  CHECK(resolve_backend(DistributedBackend::kAuto, torch::Device(torch::kCUDA, 0)) ==
        DistributedBackend::kNccl);
}

TEST_CASE("cuda: NCCL at world size 1 initialises and all-reduces", "[cuda][distributed]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: skipped");
    return;
  }
  REQUIRE(nccl_compiled());
  DistributedEnv env;  // rank 0 of 1 on 127.0.0.1
  env.master_port = 29400 + int(::getpid() % 500);
  DistributedOptions o;
  o.backend = DistributedBackend::kNccl;
  o.join_alone = true;
  o.init_timeout_s = 60;
  const torch::Device gpu(torch::kCUDA, 0);
  auto sync = join_process_group(env, gpu, o);
  REQUIRE(sync != nullptr);
  CHECK(sync->world() == 1);
  CHECK(sync->all_reduce_mean(3.5) == 3.5);
  auto p = torch::ones({4, 3}, torch::TensorOptions().device(gpu)).requires_grad_();
  p.mutable_grad() = torch::full({4, 3}, 2.0, torch::TensorOptions().device(gpu));
  sync->all_reduce_gradients({p});
  CHECK(torch::allclose(p.grad().cpu(), torch::full({4, 3}, 2.0)));
}
