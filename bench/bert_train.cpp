// bench_bert_train: BERT masked-LM pre-training in Strata against the same model in Python
// PyTorch eager (bench/bert_train_py.py), run side by side.
//
// Usage: bench_bert_train [V T L H D B threads steps]   (default 4096 128 4 4 256 16 2 15)
//
// Strata's side is the user's path: `strata train configs/pretrain/bert-sotu.yaml` (whose
// model is this shape) with overrides that give it the peer's work (bench/common.h,
// LMShape::train_overrides): dropout 0, AdamW lr 3e-4 with default betas and weight decay
// 0.01, a constant rate, no clipping, one micro-batch per step. Both sides mask 15% of each
// row's tokens afresh every step (80% [MASK], 10% random, 10% kept) and run the MLM head
// over the masked positions only. Tokens/s counts every input token (B x T per step): the
// best metrics.jsonl row after 3 warm-up steps against the peer's best step after 3.
// Strata's data (sotu, a BPE tokenizer with the MLM symbols, token shards) is prepared once
// before the rounds. The sides alternate for STRATA_BENCH_ROUNDS rounds (default 3), each
// keeping its best.
//
// Prints tokens/s for both, Strata's share of a 1024^3 float matmul peak (6N + 12 L C T
// FLOPs per token), and a last line with `ratio`.

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "bench/common.h"
#include "models/bert/bert.h"

using namespace strata::bench;

int main(int argc, char** argv) {
  const LMShape s = LMShape::parse(argc, argv);
  at::set_num_threads(static_cast<int>(s.threads));
  fmt::print("bert_train: {}\n", s.describe());
  fmt::print("peer on torch {} ({})\n", peer_torch_version(), python_program());
  const std::string config = (source_dir() / "configs/pretrain/bert-sotu.yaml").string();
  try {
    TempDir data("bench-bert-train-data");
    fmt::print("preparing the data once (tokenizer and shards) with a 1-step run\n");
    strata_train_best(config, s.train_overrides(data.path(), 1), "tokens_per_s", 0);

    double peak = 0, strata = 0, peer = 0;
    for (int round = 0; round < s.rounds; ++round) {
      const double p = matmul_peak_gflops();
      const double st = strata_train_best(config, s.train_overrides(data.path(), s.steps),
                                          "tokens_per_s", /*warmup=*/3);
      const double py = s.run_peer("bench/bert_train_py.py");
      fmt::print("round {}: matmul {:.1f} GFLOP/s; strata train {:.0f}, py {:.0f} tokens/s\n",
                 round + 1, p, st, py);
      peak = std::max(peak, p), strata = std::max(strata, st), peer = std::max(peer, py);
    }
    const auto options = strata::models::bert_size("mini")
                             .vocab_size(s.V).block_size(s.T).n_layer(s.L).n_head(s.H).n_embd(s.D);
    const double flops_per_token = strata::models::Bert(options)->train_flops_per_unit();
    fmt::print("matmul 1024^3 peak: {:.1f} GFLOP/s; {:.1f} MFLOP/token\n", peak,
               flops_per_token / 1e6);
    fmt::print("py tokens/s {:.0f}\n", peer);
    fmt::print("strata train tokens/s {:.0f} = {:.0f}% of matmul peak\n", strata,
               100.0 * strata * flops_per_token / 1e9 / peak);
    if (!(peer > 0)) throw std::runtime_error("the Python peer printed no tokens/s");
    fmt::print("ratio strata train/py {:.3f}\n", strata / peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bert_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
