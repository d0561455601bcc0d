#pragma once
// Data parallelism through PyTorch's own c10d: Gloo on CPU, NCCL on GPU.
//
// Strata has no launcher: it reads what torchrun, mpirun and SLURM set (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT; OMPI_COMM_WORLD_*; SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID), so any of them, or a shell loop that sets RANK and WORLD_SIZE, starts it.

#include <memory>

#include "core/trainer.h"

namespace strata {

struct DistributedEnv {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string rank_var, world_var;  // the variables they came from ("SLURM_PROCID", ...)
};

// The c10d backend: Gloo on CPU, NCCL on CUDA devices (auto picks by the run's device).
enum class DistributedBackend { kAuto, kGloo, kNccl };
const config::EnumNames<DistributedBackend>& distributed_backend_names();  // auto, gloo, nccl

// `distributed:` in a run config.
struct DistributedOptions {
  int64_t init_timeout_s = 300;  // longest wait for every process to join, in seconds
  DistributedBackend backend = DistributedBackend::kAuto;
  // Not a config key: join a process group even at world size 1 (the [cuda] NCCL test).
  bool join_alone = false;
};
void read_options(config::Reader r, DistributedOptions& o);

// The backend a run on `device` uses: auto -> NCCL on CUDA, Gloo on CPU; nccl on a CPU
// device falls back to Gloo with one log line.
DistributedBackend resolve_backend(DistributedBackend asked, const torch::Device& device);

// Whether this build holds ProcessGroupNCCL (a CUDA LibTorch with nccl.h at build time).
bool nccl_compiled();

// The launcher's variables; world 1 when none are set. Malformed values are an InputError.
DistributedEnv distributed_env();

// Joins the process group of `env` (world > 1, or options.join_alone), rendezvousing through a c10d TCPStore on
// master_addr:master_port. Says at once which variables asked for how many processes,
// reports progress while it waits, and stops with an InputError when they have not all
// joined within options.init_timeout_s. Gradients are averaged by one all-reduce over a
// flat buffer. A backend this build lacks (nccl without CUDA) is an InputError.
std::shared_ptr<GradientSync> join_process_group(const DistributedEnv& env,
                                                 const torch::Device& device,
                                                 const DistributedOptions& options = {});

}  // namespace strata
