// c10d's Gloo backend is compiled in only with this macro defined (ProcessGroupGloo.hpp).
#define USE_C10D_GLOO 1

#include "core/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

#include "core/errors.h"
#include "core/log.h"

namespace strata {

namespace {

const char* first_env(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n)) return v;
  }
  return nullptr;
}

int env_int(std::initializer_list<const char*> names, int fallback) {
  const char* v = first_env(names);
  if (!v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || x < 0) {
    throw InputError(fmt::format("environment: {} must be a non-negative integer, got '{}'",
                                 *names.begin(), v));
  }
  return int(x);
}

class ProcessGroupSync : public GradientSync {
 public:
  ProcessGroupSync(c10::intrusive_ptr<c10d::ProcessGroup> pg, int rank, int world)
      : pg_(std::move(pg)), rank_(rank), world_(world) {}

  void all_reduce_gradients(const std::vector<torch::Tensor>& params) override {
    std::vector<torch::Tensor> grads;
    for (const auto& p : params) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad().reshape({-1}));
    }
    std::vector<torch::Tensor> flat = {torch::cat(grads)};  // one message, not one per tensor
    pg_->allreduce(flat)->wait();
    flat[0].div_(double(world_));
    int64_t offset = 0;
    for (const auto& p : params) {
      const int64_t n = p.numel();
      p.grad().copy_(flat[0].slice(0, offset, offset + n).view_as(p));
      offset += n;
    }
  }

  double all_reduce_mean(double value) override {
    std::vector<torch::Tensor> t = {torch::tensor(value, torch::kDouble)};
    pg_->allreduce(t)->wait();
    return t[0].item<double>() / double(world_);
  }

  int rank() const override { return rank_; }
  int world() const override { return world_; }

 private:
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  int rank_, world_;
};

}  // namespace

DistributedEnv distributed_env() {
  DistributedEnv env;
  env.rank = env_int({"RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"}, 0);
  env.world = env_int({"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"}, 1);
  env.local_rank = env_int({"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}, 0);
  if (const char* addr = std::getenv("MASTER_ADDR")) env.master_addr = addr;
  env.master_port = env_int({"MASTER_PORT"}, 29500);
  if (env.world < 1 || env.rank >= env.world) {
    throw InputError(fmt::format("environment: RANK {} is not below WORLD_SIZE {}", env.rank,
                                 env.world));
  }
  return env;
}

std::shared_ptr<GradientSync> join_process_group(const DistributedEnv& env,
                                                 const torch::Device& device) {
  if (env.world <= 1) return nullptr;
  if (device.is_cuda()) {
    throw InputError("distributed: NCCL is not compiled into this LibTorch; run on CPU (Gloo)");
  }
  c10d::TCPStoreOptions store_options;
  store_options.port = uint16_t(env.master_port);
  store_options.isServer = env.rank == 0;
  store_options.numWorkers = size_t(env.world);
  store_options.waitWorkers = true;
  store_options.timeout = std::chrono::seconds(120);
  auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
  auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world, options);
  log::set_rank(env.rank);
  log::info("distributed: rank {} of {} over Gloo at {}:{}", env.rank, env.world,
            env.master_addr, env.master_port);
  return std::make_shared<ProcessGroupSync>(pg, env.rank, env.world);
}

}  // namespace strata
