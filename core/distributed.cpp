// c10d's Gloo backend is compiled in only with this macro defined (ProcessGroupGloo.hpp).
#define USE_C10D_GLOO 1

#include "core/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/errors.h"
#include "core/log.h"
#ifdef STRATA_WITH_NCCL
#include "core/distributed_nccl.h"
#endif

namespace strata {

namespace {

// The first of `names` that is set, and its value; {nullptr, nullptr} when none is.
std::pair<const char*, const char*> first_env(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n)) return {n, v};
  }
  return {nullptr, nullptr};
}

int env_int(std::initializer_list<const char*> names, int fallback, std::string* source = nullptr) {
  const auto [name, v] = first_env(names);
  if (!v) return fallback;
  if (source) *source = name;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || x < 0) {
    throw InputError(fmt::format("environment: {} must be a non-negative integer, got '{}'",
                                 name, v));
  }
  return int(x);
}

// Since LibTorch 2.0, ProcessGroupGloo and ProcessGroupNCCL are c10d::Backends, no longer
// ProcessGroups (pytorch PR #88330); a Backend has the collectives Strata uses.
class ProcessGroupSync : public GradientSync {
 public:
  ProcessGroupSync(c10::intrusive_ptr<c10d::Backend> pg, int rank, int world,
                   torch::Device device)
      : pg_(std::move(pg)), rank_(rank), world_(world), device_(device) {}

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
    std::vector<torch::Tensor> t = {torch::tensor(value, torch::kDouble).to(device_)};
    pg_->allreduce(t)->wait();
    return t[0].item<double>() / double(world_);
  }

  int rank() const override { return rank_; }
  int world() const override { return world_; }

 private:
  c10::intrusive_ptr<c10d::Backend> pg_;
  int rank_, world_;
  torch::Device device_;  // where the collectives' tensors live (NCCL: the GPU)
};

// Waits until all `world` processes have added themselves to the store's counter, saying
// every 10 s how many have; an InputError after `timeout`.
void wait_for_everyone(c10d::Store& store, const DistributedEnv& env, std::chrono::seconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto next_report = start + std::chrono::seconds(10);
  store.add("strata/joined", 1);
  for (int64_t joined = store.add("strata/joined", 0); joined < env.world;
       joined = store.add("strata/joined", 0)) {
    const auto now = Clock::now();
    const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
    if (now - start >= timeout) {
      throw InputError(fmt::format(
          "distributed: only {} of {} processes joined within {} s ({}={}, {}={}); start the "
          "others, unset those variables to run alone, or raise distributed.init_timeout_s",
          joined, env.world, waited, env.world_var, env.world, env.rank_var, env.rank));
    }
    if (now >= next_report) {
      log::info("distributed: {} of {} processes joined after {} s", joined, env.world, waited);
      next_report += std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int world,
                                                    std::chrono::milliseconds timeout) {
#ifdef STRATA_WITH_NCCL
  return detail::make_nccl_backend(store, rank, world, timeout);
#else
  (void)store, (void)rank, (void)world, (void)timeout;
  throw InputError("distributed.backend: nccl is not compiled into this build");
#endif
}

}  // namespace

bool nccl_compiled() {
#ifdef STRATA_WITH_NCCL
  return true;
#else
  return false;
#endif
}

const config::EnumNames<DistributedBackend>& distributed_backend_names() {
  static const config::EnumNames<DistributedBackend> names = {
      {"auto", DistributedBackend::kAuto},
      {"gloo", DistributedBackend::kGloo},
      {"nccl", DistributedBackend::kNccl}};
  return names;
}

void read_options(config::Reader r, DistributedOptions& o) {
  r.read("init_timeout_s", o.init_timeout_s, config::Range::at_least(1));
  r.read_enum("backend", o.backend, distributed_backend_names());
  r.finish();
}

DistributedBackend resolve_backend(DistributedBackend asked, const torch::Device& device) {
  if (asked == DistributedBackend::kAuto) {
    return device.is_cuda() ? DistributedBackend::kNccl : DistributedBackend::kGloo;
  }
  if (asked == DistributedBackend::kNccl && !device.is_cuda()) {
    log::info("distributed: backend nccl needs a CUDA device and this run is on {}; using gloo",
              device.str());
    return DistributedBackend::kGloo;
  }
  return asked;
}

DistributedEnv distributed_env() {
  DistributedEnv env;
  env.rank = env_int({"RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"}, 0, &env.rank_var);
  env.world = env_int({"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"}, 1, &env.world_var);
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
                                                 const torch::Device& device,
                                                 const DistributedOptions& o) {
  if (env.world <= 1 && !o.join_alone) return nullptr;
  const DistributedBackend backend = resolve_backend(o.backend, device);
  if (backend == DistributedBackend::kNccl && !nccl_compiled()) {
    throw InputError("distributed.backend: nccl is not compiled into this build (it needs a "
                     "CUDA LibTorch and nccl.h); use gloo");
  }
  log::set_rank(env.rank);
  log::info("distributed: {}={} and {}={} ask for {} processes; rank {} waits up to {} s for "
            "them at {}:{}",
            env.world_var, env.world, env.rank_var.empty() ? "RANK" : env.rank_var, env.rank,
            env.world, env.rank, o.init_timeout_s, env.master_addr, env.master_port);
  const auto timeout = std::chrono::seconds(o.init_timeout_s);
  c10d::TCPStoreOptions store_options;
  store_options.port = uint16_t(env.master_port);
  store_options.isServer = env.rank == 0;
  store_options.numWorkers = size_t(env.world);
  store_options.waitWorkers = false;  // wait_for_everyone waits, with progress and a limit
  store_options.timeout = timeout;
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    throw InputError(fmt::format("distributed: rank {} cannot reach rank 0 at {}:{} ({}); is it "
                                 "running?",
                                 env.rank, env.master_addr, env.master_port,
                                 why.substr(0, why.find('\n'))));
  }
  wait_for_everyone(*store, env, timeout);
  const auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  c10::intrusive_ptr<c10d::Backend> pg;
  if (backend == DistributedBackend::kNccl) {
    pg = make_nccl_backend(store, env.rank, env.world, timeout_ms);
  } else {
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = timeout_ms;
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world, options);
  }
  log::info("distributed: rank {} of {} over {} at {}:{}", env.rank, env.world,
            backend == DistributedBackend::kNccl ? "NCCL" : "Gloo", env.master_addr,
            env.master_port);
  return std::make_shared<ProcessGroupSync>(pg, env.rank, env.world, device);
}

}  // namespace strata
