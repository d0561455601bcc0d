#include "core/run.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <filesystem>
#include <limits>

#ifdef STRATA_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "core/checkpoint.h"
#include "core/compat.h"
#include "core/errors.h"
#include "core/log.h"

namespace fs = std::filesystem;

namespace strata {

const config::EnumNames<DeviceChoice>& device_choice_names() {
  static const config::EnumNames<DeviceChoice> names = {
      {"cpu", DeviceChoice::kCPU}, {"cuda", DeviceChoice::kCUDA}, {"auto", DeviceChoice::kAuto}};
  return names;
}

void read_options(config::Reader& root, RunOptions& o) {
  root.read("out_dir", o.out_dir);
  root.read("seed", o.seed, config::Range::non_negative());
  root.read("threads", o.threads, config::Range::non_negative());
  root.read_enum("device", o.device, device_choice_names());
  root.read("resume", o.resume);
  root.read("overwrite", o.overwrite);
  if (o.out_dir.empty()) root.fail("out_dir", "must not be empty");
}

double peak_rss_mb() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0.0;
  return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

double peak_device_memory_mb(const torch::Device& device) {
#ifdef STRATA_WITH_CUDA
  if (device.is_cuda()) {
    const int index = device.index() < 0 ? 0 : device.index();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    // Entry 0 of each stat array is the aggregate over pools (StatType::AGGREGATE, whose
    // namespace moved between LibTorch versions).
    return double(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
  }
#endif
  (void)device;
  return -1.0;
}

int64_t usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

void keep_freed_memory() {
#ifdef __GLIBC__
  // glibc serves blocks above its mmap threshold with fresh mmap()s and gives the top of
  // the heap back once 128 KiB of it is free. A training step frees and re-allocates the
  // same activation buffers (MBs each) every time, so each step page-faulted them in
  // again: 6% of a BERT step's samples were page faults inside OpenBLAS's output zeroing.
  // Keeping blocks up to 32 MiB (glibc's ceiling) in the heap and never trimming it made
  // the bert-sotu step 19-34% faster at the same peak RSS.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

torch::Device setup_run(const RunOptions& o) {
  keep_freed_memory();
  int64_t threads = o.threads > 0 ? o.threads : usable_cores();
  at::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  bool has_cuda = torch::cuda::is_available();
  if (o.device == DeviceChoice::kCUDA && !has_cuda) {
    throw InputError("device: 'cuda' was asked for but no CUDA device is available");
  }
  torch::Device device = (o.device == DeviceChoice::kCUDA || (o.device == DeviceChoice::kAuto && has_cuda))
                             ? torch::Device(torch::kCUDA)
                             : torch::Device(torch::kCPU);
  return device;
}

void log_run_setup(const RunOptions& o, const torch::Device& device) {
  log::info("threads: {}  device: {}  seed: {}  torch: {}", at::get_num_threads(), device.str(),
            o.seed, TORCH_VERSION);
}

void check_run_dir(const RunOptions& o) {
  fs::path dir(o.out_dir);
  if (fs::exists(dir) && !fs::is_directory(dir)) {
    throw InputError(fmt::format("out_dir: '{}' exists and is not a directory", o.out_dir));
  }
  if (has_checkpoints(o.out_dir) && !o.resume && !o.overwrite) {
    throw InputError(fmt::format(
        "out_dir: '{}' already holds checkpoints; pass resume=true to continue it or "
        "overwrite=true to start over",
        o.out_dir));
  }
}

void prepare_run_dir(const RunOptions& o) {
  check_run_dir(o);
  fs::path dir(o.out_dir);
  if (o.overwrite && !o.resume) {
    for (const char* name : {"checkpoints", "best", "metrics.jsonl", "results.json", "eval"}) {
      fs::remove_all(dir / name);
    }
  }
  fs::create_directories(dir);
}

}  // namespace strata
