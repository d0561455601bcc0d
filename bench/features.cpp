// bench/features: HOG over the 70,000 Fashion-MNIST images, Strata's batched tensor HOG
// against scikit-image's hog (bench/features_py.py, one image at a time as a researcher
// writes it) with the same parameters. Checks that the features agree to 1e-4 on a sample
// of images. Last line: `ratio strata/peer: X`, Strata's images/s over the peer's (its
// speed-up) at the peer's thread count (one).
//
// Usage: bench_features [--limit N] [--stride S] [--threads T]

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include <unistd.h>

#include "core/clock.h"
#include "core/data/fashion_mnist.h"
#include "core/python.h"
#include "core/run.h"
#include "models/classic/hog.h"

using namespace strata;

namespace {

double seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return seconds_since(t0);
}

// Runs a command, echoing its output; returns the value of its "seconds X" line.
double run_peer(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot start the peer: " + command);
  char line[4096];
  double secs = -1;
  while (std::fgets(line, sizeof(line), p)) {
    std::string s(line);
    if (s.rfind("seconds ", 0) == 0) {
      secs = std::stod(s.substr(8));
    } else {
      std::fputs(line, stdout);
    }
  }
  if (pclose(p) != 0 || secs < 0) throw std::runtime_error("the peer failed: " + command);
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t limit = 0, stride = 700, threads = usable_cores();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--limit") limit = std::stoll(argv[i + 1]);
    else if (a == "--stride") stride = std::stoll(argv[i + 1]);
    else if (a == "--threads") threads = std::stoll(argv[i + 1]);
  }
  auto train = data::load_fashion_mnist("train");
  auto test = data::load_fashion_mnist("test");
  auto images = torch::cat({train.images, test.images});
  if (limit > 0) images = images.slice(0, 0, limit);
  const int64_t N = images.size(0);

  classic::HogOptions o;  // the peer's: 9 orientations, 4x4 cells, 2x2 blocks, L2-Hys
  o.pixels_per_cell = {4, 4};
  o.cells_per_block = {2, 2};
  torch::Tensor features;
  classic::hog(images.slice(0, 0, 256), o);  // warm-up
  at::set_num_threads(1);
  double one = seconds([&] { features = classic::hog(images, o); });
  fmt::print("strata hog {} images, 1 thread: {:.2f}s ({:.0f} images/s), {} features\n", N, one,
             N / one, features.size(1));
  double many = one;
  if (threads > 1) {
    at::set_num_threads(int(threads));
    many = seconds([&] { features = classic::hog(images, o); });
    fmt::print("strata hog {} images, {} threads: {:.2f}s ({:.0f} images/s)\n", N, threads, many,
               N / many);
  }
  std::fflush(stdout);

  const std::string sample_file = fmt::format("/tmp/strata_bench_features_{}.f64", getpid());
  // The peer script sits beside this file (CMake compiles it by its absolute path).
  const auto script = std::filesystem::path(__FILE__).parent_path() / "features_py.py";
  double peer = run_peer(fmt::format("{} {} {} {} {}", python_program(), script.string(), limit,
                                     stride, sample_file));
  std::ifstream in(sample_file, std::ios::binary);
  auto ours = features.index_select(0, torch::arange(0, N, stride)).to(torch::kDouble);
  auto theirs = torch::empty_like(ours);
  in.read(reinterpret_cast<char*>(theirs.data_ptr<double>()), theirs.numel() * sizeof(double));
  std::remove(sample_file.c_str());
  const double diff = in ? (ours - theirs).abs().max().item<double>() : -1;
  fmt::print("features of {} sampled images: max |strata - skimage| = {:.2e} ({})\n", ours.size(0),
             diff, diff >= 0 && diff < 1e-4 ? "equal to 1e-4" : "DIFFERENT");
  fmt::print("speed-up: {:.1f}x at 1 thread, {:.1f}x at {} threads\n", peer / one, peer / many, threads);
  fmt::print("ratio strata/peer: {:.2f}\n", peer / one);  // images/s over images/s
  return diff >= 0 && diff < 1e-4 ? 0 : 1;
}
