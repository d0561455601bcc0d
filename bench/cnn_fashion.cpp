// bench_cnn_fashion: one Fashion-MNIST training epoch of the design notes' Keras CNN in
// Strata against the same model in Python PyTorch eager (bench/cnn_fashion_py.py, the plain
// program a researcher would write), both run from this process as children.
//
// Usage: bench_cnn_fashion [--epochs E] [--threads T] [--batch B] [--repeat R]
//                          [--strata PATH] [--config PATH] [--python PATH] [--loop]
//   defaults: 1 epoch, 2 threads, batch 64, 1 repeat; strata beside this program's folder,
//   configs/cnn/fashion.yaml and bench/cnn_fashion_py.py from the source tree.
//
// Same work on both sides: the same model and initialisation, 60,000 training images in
// a fresh random order each epoch, batch 64 (the last one partial), cross-entropy, Adam
// (lr 1e-3), the same thread count. Images/s = 60,000 / the epoch's training seconds
// (evaluation excluded on both sides).
//
// Strata's side is the real training path: `strata train CONFIG trainer.epochs=E
// trainer.batch_size=B threads=T out_dir=<tmp> overwrite=true`, with images/s read from
// the run's metrics.jsonl (examples over the summed time of its logged intervals).
// --loop measures a plain loop over CNN instead, in this process (the model alone).
// With --repeat R the sides alternate R times and each keeps its best epoch, so that load
// from other processes on a shared machine hits both alike.
//
// Prints images/s for both and a last line with `ratio` (Strata / peer).

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/common.h"
#include "core/data/fashion_mnist.h"
#include "models/cnn/cnn.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  int epochs = 1;
  int threads = 2;
  int batch = 64;
  int repeat = 1;
  bool loop = false;
  std::string strata;  // default: <this program's folder>/../strata
  std::string config;  // default: <source>/configs/cnn/fashion.yaml
  std::string python = strata::python_program();
  std::string peer;    // default: <source>/bench/cnn_fashion_py.py
};

using strata::bench::run_child;
using strata::bench::shell_quote;

// The peer prints "epoch E train_s S images_per_s N test_acc A" per epoch; the best N.
double run_peer(const Args& a) {
  auto out = run_child(fmt::format("{} {} {} {} {}", shell_quote(a.python), shell_quote(a.peer),
                                   a.epochs, a.threads, a.batch),
                       "  peer | ");
  double best = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find("images_per_s ");
    if (at != std::string::npos) best = std::max(best, std::stod(line.substr(at + 13)));
  }
  if (best <= 0) throw std::runtime_error("the peer printed no images_per_s");
  return best;
}

// `strata train` for the configured epochs; images/s from metrics.jsonl: the examples of
// the logged intervals over their summed seconds (each row's examples_per_s covers the
// steps since the previous row).
double run_strata_train(const Args& a) {
  strata::bench::TempDir out("bench-cnn-fashion");
  const std::string& out_dir = out.path();
  run_child(fmt::format("{} train {} trainer.epochs={} trainer.batch_size={} threads={} "
                        "out_dir={} overwrite=true",
                        shell_quote(a.strata), shell_quote(a.config), a.epochs, a.batch,
                        a.threads, shell_quote(out_dir)),
            "  strata | ");
  double examples = 0, seconds = 0;
  int64_t last_step = 0;
  for (const auto& row : strata::bench::metrics_rows(out_dir, "examples_per_s")) {
    const int64_t step = row["step"].get<int64_t>();
    const double rate = row["examples_per_s"].get<double>();
    const double n = double(step - last_step) * a.batch;
    last_step = step;
    if (rate > 0 && n > 0) examples += n, seconds += n / rate;
  }
  if (seconds <= 0) throw std::runtime_error("strata's metrics.jsonl has no examples_per_s rows");
  return examples / seconds;
}

// The model alone: the peer's loop written against strata::models::CNN (torch::optim::Adam).
double run_strata_loop(const Args& a) {
  at::set_num_threads(a.threads);
  torch::manual_seed(0);
  auto train = strata::data::load_fashion_mnist("train");
  auto x = strata::data::to_float(train.images);  // [N, 1, 28, 28]
  auto y = train.labels;
  const int64_t N = x.size(0);
  strata::models::CNN model(strata::models::cnn_size("keras"));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  double best = 0;
  for (int epoch = 0; epoch < a.epochs; ++epoch) {
    auto t0 = Clock::now();
    auto perm = torch::randperm(N);
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t i = 0; i < N; i += a.batch) {
      auto idx = perm.slice(0, i, std::min(N, i + a.batch));
      auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                       y.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (++steps % 200 == 0) loss_sum = loss.item<double>();
    }
    const double dt = strata::seconds_since(t0);
    best = std::max(best, N / dt);
    fmt::print("  strata loop | epoch {} train_s {:.1f} images_per_s {:.0f} loss {:.3f}\n",
               epoch + 1, dt, N / dt, loss_sum);
  }
  return best;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--epochs") a.epochs = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--batch") a.batch = std::stoi(value());
    else if (k == "--repeat") a.repeat = std::stoi(value());
    else if (k == "--strata") a.strata = value();
    else if (k == "--config") a.config = value();
    else if (k == "--python") a.python = value();
    else if (k == "--peer") a.peer = value();
    else if (k == "--loop") a.loop = true;
    else throw std::runtime_error("unknown argument " + k + " (see the comment at the top of bench/cnn_fashion.cpp)");
  }
  if (a.strata.empty()) a.strata = strata::bench::strata_program();
  if (a.config.empty()) a.config = (strata::bench::source_dir() / "configs/cnn/fashion.yaml").string();
  if (a.peer.empty()) a.peer = (strata::bench::source_dir() / "bench/cnn_fashion_py.py").string();
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    fmt::print("cnn_fashion: Keras CNN, Fashion-MNIST, {} epoch(s), batch {}, Adam, {} threads; "
               "Strata side: {}\n",
               a.epochs, a.batch, a.threads,
               a.loop ? "the model in a plain loop (--loop)" : "strata train " + a.config);
    double peer = 0, strata = 0;
    for (int r = 0; r < a.repeat; ++r) {
      peer = std::max(peer, run_peer(a));
      strata = std::max(strata, a.loop ? run_strata_loop(a) : run_strata_train(a));
    }
    fmt::print("peer (Python PyTorch {} eager, {}):   {:.0f} images/s\n", strata::bench::peer_torch_version(a.python),
               a.python, peer);
    fmt::print("strata ({}): {:.0f} images/s\n", a.loop ? "loop" : "train", strata);
    fmt::print("ratio strata/peer: {:.2f}\n", strata / peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cnn_fashion: %s\n", e.what());
    return 1;
  }
  return 0;
}
