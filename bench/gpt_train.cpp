// bench_gpt_train: a GPT training step in Strata against the same model in Python PyTorch
// eager (bench/gpt_train_py.py, the project's reference peer), run side by side.
//
// Usage: bench_gpt_train [V T L H D B threads steps]   (default 4096 128 4 4 256 16 2 15)
//
// Same work as the peer: GPT with biases and no dropout, pre-LN, GELU MLP, tied
// embeddings; random tokens and targets; cross-entropy; AdamW (lr 3e-4, betas 0.9/0.999,
// eps 1e-8, weight decay 0.01; Strata's core optimizer, which skips the decay of 1-D
// parameters); same thread count; tokens/s of the best
// step after 3 warm-up steps. Each side runs `rounds` times (STRATA_BENCH_ROUNDS, default
// 3), alternating, and keeps its best, so that load from other processes on a shared
// machine hits both alike; the matmul peak is measured in every round too, best kept.
//
// Prints tokens/s for each, Strata's GFLOP/s (6N + 12 L C T per token) as a fraction of a
// 1024^3 float matmul measured on the same threads, and a last line with `ratio`.

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/optim.h"
#include "core/trainer.h"
#include "models/gpt/gpt.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The best of a few 1024^3 float matmuls, in GFLOP/s.
double matmul_peak_gflops() {
  const int64_t n = 1024;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  double best = 1e9;
  for (int i = 0; i < 8; ++i) {
    auto t0 = Clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * n * n * n / best / 1e9;
}

struct Shape {
  int64_t V = 4096, T = 128, L = 4, H = 4, D = 256, B = 16, threads = 2, steps = 15;
};

// Strata's best step, in tokens/s.
double run_strata(const Shape& s, double* flops_per_token) {
  using namespace strata::models;
  torch::manual_seed(0);
  auto options = GPTOptions()
                     .vocab_size(s.V)
                     .block_size(s.T)
                     .n_layer(s.L)
                     .n_head(s.H)
                     .n_embd(s.D)
                     .bias(true)
                     .dropout(0.0);
  GPT model(options);
  model->train();
  *flops_per_token = model->train_flops_per_unit();
  // Strata's own optimizer (core/optim.h), as the trainer builds it; the peer's settings.
  // Strata's recipe leaves 1-D parameters (biases, norms) undecayed: 0.2% of the weights.
  strata::OptimizerOptions adamw;
  adamw.type = "adamw";
  adamw.lr = 3e-4;
  adamw.betas = {0.9, 0.999};
  adamw.eps = 1e-8;
  adamw.weight_decay = 0.01;
  adamw.no_decay = {};
  strata::Optimizer opt(strata::model_tensors(*model), adamw);
  strata::Batch batch;
  batch.input = torch::randint(s.V, {s.B, s.T});
  batch.target = torch::randint(s.V, {s.B, s.T});
  double best = 1e9;
  for (int64_t it = 0; it < s.steps; ++it) {
    auto t0 = Clock::now();
    // cross_entropy(logits, target) without materialising the logits (layers/lm_head.h).
    auto loss = model->loss(batch);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (it >= 3) best = std::min(best, seconds_since(t0));
  }
  return s.B * s.T / best;
}

// The peer's tokens/s, from its output line "py tokens/s N"; 0 when it failed.
double run_peer(const Shape& s) {
  const auto script = std::filesystem::path(__FILE__).parent_path() / "gpt_train_py.py";
  const char* python = std::getenv("STRATA_PYTHON");
  const std::string cmd =
      fmt::format("{} {} {} {} {} {} {} {} {} {} 2>&1", python ? python : "/usr/bin/python3",
                  script.string(), s.V, s.T, s.L, s.H, s.D, s.B, s.threads, s.steps);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return 0.0;
  char line[512];
  double tps = 0.0;
  while (fgets(line, sizeof line, pipe.get())) {
    if (std::sscanf(line, "py tokens/s %lf", &tps) != 1) std::fputs(line, stderr);
  }
  return tps;
}

}  // namespace

int main(int argc, char** argv) {
  Shape s;
  if (argc > 8) {
    int64_t* fields[] = {&s.V, &s.T, &s.L, &s.H, &s.D, &s.B, &s.threads, &s.steps};
    for (int i = 0; i < 8; ++i) *fields[i] = std::stoll(argv[i + 1]);
  }
  at::set_num_threads(static_cast<int>(s.threads));
  const char* rounds_env = std::getenv("STRATA_BENCH_ROUNDS");
  const int rounds = rounds_env ? std::max(1, std::atoi(rounds_env)) : 3;
  fmt::print(
      "gpt_train: V={} T={} L={} H={} D={} B={} threads={} steps={} rounds={} (torch threads {})\n",
      s.V, s.T, s.L, s.H, s.D, s.B, s.threads, s.steps, rounds, at::get_num_threads());

  double peak = 0, strata_tps = 0, peer_tps = 0, flops_per_token = 0;
  for (int round = 0; round < rounds; ++round) {
    const double p = matmul_peak_gflops(), st = run_strata(s, &flops_per_token), py = run_peer(s);
    fmt::print("round {}: matmul {:.1f} GFLOP/s, strata {:.0f} tokens/s, py {:.0f} tokens/s\n",
               round + 1, p, st, py);
    std::fflush(stdout);
    peak = std::max(peak, p);
    strata_tps = std::max(strata_tps, st);
    peer_tps = std::max(peer_tps, py);
  }
  fmt::print("matmul 1024^3 peak: {:.1f} GFLOP/s\n", peak);
  const double gflops = strata_tps * flops_per_token / 1e9;
  fmt::print("strata tokens/s {:.0f}\n", strata_tps);
  fmt::print("py tokens/s {:.0f}\n", peer_tps);
  fmt::print("strata {:.1f} GFLOP/s ({:.1f} MFLOP/token) = {:.0f}% of matmul peak\n", gflops,
             flops_per_token / 1e6, 100.0 * gflops / peak);
  if (peer_tps <= 0) {
    fmt::print("ratio unavailable: the Python peer failed\n");
    return 1;
  }
  fmt::print("ratio strata/py {:.3f}\n", strata_tps / peer_tps);
  return 0;
}
