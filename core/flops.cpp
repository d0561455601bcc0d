#include "core/flops.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/clock.h"

#if defined(STRATA_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace strata {

double measure_matmul_flops() {
  torch::NoGradGuard no_grad;
  const int64_t n = 1024;
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * double(n * n * n) / best;
}

namespace {

std::filesystem::path cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME")) return std::filesystem::path(xdg) / "strata";
  if (const char* home = std::getenv("HOME")) return std::filesystem::path(home) / ".cache/strata";
  return std::filesystem::temp_directory_path() / "strata-cache";
}

}  // namespace

double peak_flops(const torch::Device& device) {
  if (device.is_cuda()) {
    // Dense bf16 tensor-core peaks from the vendors' data sheets.
    std::string name;
#if defined(STRATA_WITH_CUDA)
    cudaDeviceProp properties{};
    const int index = device.has_index() ? device.index() : 0;
    if (cudaGetDeviceProperties(&properties, index) == cudaSuccess) name = properties.name;
#endif
    if (name.find("H100") != std::string::npos || name.find("H200") != std::string::npos) return 989e12;
    if (name.find("A100") != std::string::npos) return 312e12;
    return 0.0;
  }
  const auto path = cache_dir() / fmt::format("matmul-f32-{}threads", at::get_num_threads());
  {
    std::ifstream in(path);
    double cached = 0.0;
    if (in >> cached && cached > 0.0) return cached;
  }
  const double measured = measure_matmul_flops();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (!ec) {
    try {
      write_file_atomic(path.string(), fmt::format("{}\n", measured));
    } catch (const std::exception&) {
      // A read-only home only costs a re-measurement next time.
    }
  }
  return measured;
}

}  // namespace strata
