// bench_gpt_train: GPT pre-training in Strata against the same model in Python PyTorch
// eager (bench/gpt_train_py.py), run side by side.
//
// Usage: bench_gpt_train [V T L H D B threads steps]   (default 4096 128 4 4 256 16 2 15)
//
// Strata's side is the user's path: `strata train configs/pretrain/gpt-sotu.yaml` (whose
// model is this shape) with overrides that give it the peer's work: GPT with biases and no
// dropout, pre-LN, GELU MLP, tied embeddings; cross-entropy through the model's fused head;
// AdamW (lr 3e-4, betas 0.9/0.999, eps 1e-8, weight decay 0.01; Strata's recipe leaves the
// 1-D parameters, 0.2% of the weights, undecayed); no clipping, a constant rate, one
// micro-batch per step, the same thread count. Tokens/s is the best metrics.jsonl row
// (one row per step) after 3 warm-up steps; the peer reports its best step after 3 warm-up
// steps. The data (the sotu corpus, a BPE tokenizer of V pieces, token shards) is prepared
// once before the rounds and reused. A figure for the model alone (GPT::loss and the
// optimizer in a loop in this process) is printed first for reference.
//
// Each side runs `rounds` times (STRATA_BENCH_ROUNDS, default 3), alternating, and keeps
// its best, so that load from other processes on a shared machine hits both alike; the
// matmul peak is measured in every round too, best kept.
//
// Prints tokens/s for each, Strata's GFLOP/s (6N + 12 L C T per token) as a share of a
// 1024^3 float matmul on the same threads, and a last line with `ratio`.

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "bench/common.h"
#include "core/optim.h"
#include "core/trainer.h"
#include "models/gpt/gpt.h"

namespace {

using namespace strata::bench;

strata::models::GPTOptions gpt_options(const LMShape& s) {
  return strata::models::GPTOptions()
      .vocab_size(s.V)
      .block_size(s.T)
      .n_layer(s.L)
      .n_head(s.H)
      .n_embd(s.D)
      .bias(true)
      .dropout(0.0);
}

// The model alone: GPT::loss, backward and Strata's optimizer in a loop; best tokens/s.
double run_model_alone(const LMShape& s) {
  torch::manual_seed(0);
  strata::models::GPT model(gpt_options(s));
  model->train();
  strata::OptimizerOptions adamw;
  adamw.lr = 3e-4;
  adamw.betas = {0.9, 0.999};
  adamw.weight_decay = 0.01;
  adamw.no_decay = {};
  strata::Optimizer opt(strata::model_tensors(*model), adamw);
  strata::Batch batch;
  batch.input = torch::randint(s.V, {s.B, s.T});
  batch.target = torch::randint(s.V, {s.B, s.T});
  double best = 1e9;
  for (int64_t it = 0; it < s.steps; ++it) {
    auto t0 = Clock::now();
    auto loss = model->loss(batch);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (it >= 3) best = std::min(best, seconds_since(t0));
  }
  return double(s.B * s.T) / best;
}

}  // namespace

int main(int argc, char** argv) {
  const LMShape s = LMShape::parse(argc, argv);
  at::set_num_threads(static_cast<int>(s.threads));
  fmt::print("gpt_train: {}\n", s.describe());
  const std::string config = (source_dir() / "configs/pretrain/gpt-sotu.yaml").string();
  try {
    TempDir data("bench-gpt-train-data");
    fmt::print("preparing the data once (tokenizer and shards) with a 1-step run\n");
    strata_train_best(config, s.train_overrides(data.path(), 1), "tokens_per_s", 0);

    double peak = 0, alone = 0, strata = 0, peer = 0;
    for (int round = 0; round < s.rounds; ++round) {
      const double p = matmul_peak_gflops(), a = run_model_alone(s);
      const double st = strata_train_best(config, s.train_overrides(data.path(), s.steps),
                                          "tokens_per_s", /*warmup=*/3);
      const double py = s.run_peer("bench/gpt_train_py.py");
      fmt::print("round {}: matmul {:.1f} GFLOP/s; model alone {:.0f}, strata train {:.0f}, "
                 "py {:.0f} tokens/s\n",
                 round + 1, p, a, st, py);
      peak = std::max(peak, p), alone = std::max(alone, a);
      strata = std::max(strata, st), peer = std::max(peer, py);
    }
    const double flops_per_token = strata::models::GPT(gpt_options(s))->train_flops_per_unit();
    auto share = [&](double tps) { return 100.0 * tps * flops_per_token / 1e9 / peak; };
    fmt::print("matmul 1024^3 peak: {:.1f} GFLOP/s; {:.1f} MFLOP/token\n", peak,
               flops_per_token / 1e6);
    fmt::print("model alone: {:.0f} tokens/s = {:.0f}% of matmul peak\n", alone, share(alone));
    fmt::print("py tokens/s {:.0f}\n", peer);
    fmt::print("strata train tokens/s {:.0f} = {:.1f} GFLOP/s = {:.0f}% of matmul peak\n", strata,
               strata * flops_per_token / 1e9, share(strata));
    if (!(peer > 0)) throw std::runtime_error("the Python peer printed no tokens/s");
    fmt::print("ratio strata train/py {:.3f}\n", strata / peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpt_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
