#pragma once
// The top-level keys every run shares (docs/architecture.md, "Configs"), and what they set up:
// threads, seed, device, and a run directory that never loses saved work by accident.

#include <torch/torch.h>

#include <string>

#include "core/config.h"

namespace strata {

enum class DeviceChoice { kCPU, kCUDA, kAuto };  // auto: CUDA where there is one
const config::EnumNames<DeviceChoice>& device_choice_names();  // cpu, cuda, auto

struct RunOptions {
  std::string out_dir = "runs/default";
  int64_t seed = 0;
  int64_t threads = 0;         // 0: every usable core
  DeviceChoice device = DeviceChoice::kAuto;
  bool resume = false;         // continue from out_dir/checkpoints/latest
  bool overwrite = false;      // start over in an out_dir that holds checkpoints
};

// Reads the shared keys from the root of a run config. Relative out_dir stays relative
// to the working directory, as in every other training tool.
void read_options(config::Reader& root, RunOptions& o);

// The number of cores this process may run on (sched_getaffinity).
int64_t usable_cores();

// The largest resident set this process has had so far, in MiB (getrusage's ru_maxrss).
double peak_rss_mb();
// The allocator's peak for a CUDA device so far, in MiB; -1 for the CPU or a build
// without CUDA.
double peak_device_memory_mb(const torch::Device& device);

// Keeps freed memory in the process (glibc: blocks up to 32 MiB from the heap, no trimming)
// so that the buffers a training step frees are reused without page faults next step.
void keep_freed_memory();

// Keeps freed memory (keep_freed_memory), sets intra-op threads (Debian's LibTorch starts
// with one), seeds every generator, and picks the device. `cuda` on a machine without one is an InputError.
torch::Device setup_run(const RunOptions& o);
// Prints the thread count, device and seed (once the config has passed its checks).
void log_run_setup(const RunOptions& o, const torch::Device& device);

// Checks the run directory against resume/overwrite and creates it. A directory that holds
// checkpoints, with neither resume nor overwrite, is refused (InputError). overwrite
// removes the old run's checkpoints, metrics and results before anything new is written.
void prepare_run_dir(const RunOptions& o);
// Only the refusal of prepare_run_dir, changing nothing.
void check_run_dir(const RunOptions& o);

}  // namespace strata
