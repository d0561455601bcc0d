// bench_gpt_train: GPT pre-training in Strata against the same model in PyTorch from Python,
// eager and under torch.compile (bench/gpt_train_py.py), on the same torch wheel, run side
// by side.
//
// Usage: bench_gpt_train [V T L H D B threads steps] [--device cpu|cuda]
//                        [--dtype float32|bfloat16] [--random-shards] [--no-compile]
//   default 4096 128 4 4 256 16 2 15 on the CPU in fp32, sotu data.
//   GPT-2 124M on a GPU (scripts/device/check.sh):
//     bench_gpt_train 50257 1024 12 12 768 16 16 30 --device cuda --dtype bfloat16 --random-shards
//
// Strata's side is the user's path: `strata train configs/pretrain/gpt-sotu.yaml` with
// overrides that give it the peer's shape and work: GPT with biases and no dropout, pre-LN,
// GELU MLP, tied embeddings; cross-entropy through the model's fused head; AdamW (lr 3e-4,
// betas 0.9/0.999, eps 1e-8, weight decay 0.01; Strata's recipe leaves the 1-D parameters,
// 0.2% of the weights, undecayed); no clipping, a constant rate, one micro-batch per step,
// the same thread count. On CUDA both sides also get TF32, pinned batches (Strata) and the
// fused AdamW kernel. The data: by default the sotu corpus with a BPE tokenizer of V pieces,
// prepared once before the rounds and reused; with --random-shards, uniform random tokens
// written as token shards (pretrain::write_token_shards) and read through `data.shards`, so
// no tokenizer is trained. Tokens/s is the best metrics.jsonl row (one row per step) after 3
// warm-up steps; the peers report their best step after 3 warm-up steps (compile's first
// step is its compilation). On the CPU a figure for the model alone (GPT::loss and the
// optimizer in a loop in this process) is printed first, for reference.
//
// Each side runs `rounds` times (STRATA_BENCH_ROUNDS, default 3), alternating, and keeps its
// best, so that load from other processes on a shared machine hits all sides alike.
//
// Prints tokens/s for each side, the FLOPs per token (6N + 12 L C T, as nanoGPT counts
// them) times tokens/s as a share of the peak (CPU: a 1024^3 matmul in the run's dtype on the same
// threads, measured each round; H100/H200: the dense bf16 989 TFLOP/s), and the ratios.

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>

#include "bench/common.h"
#include "core/flops.h"
#include "core/optim.h"
#include "core/trainer.h"
#include "models/gpt/gpt.h"
#include "pretrain/corpus_prep.h"

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
double run_model_alone(const LMShape& s, bool bf16) {
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
    torch::Tensor loss;
    {
      strata::AutocastGuard autocast(torch::Device(torch::kCPU), bf16);
      loss = model->loss(batch);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (it >= 3) best = std::min(best, seconds_since(t0));
  }
  return double(s.B * s.T) / best;
}

struct Flags {
  std::string device = "cpu", dtype = "float32";
  bool random_shards = false, compile = true;
};

Flags parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--device") f.device = value();
    else if (arg == "--dtype") f.dtype = value();
    else if (arg == "--random-shards") f.random_shards = true;
    else if (arg == "--no-compile") f.compile = false;
    else if (arg.rfind("--", 0) == 0) throw std::runtime_error("unknown flag " + arg);
  }
  return f;
}

// The positional arguments only (LMShape::parse reads argv[1..8]).
std::vector<char*> positional(int argc, char** argv) {
  std::vector<char*> out = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) == 0) {
      if (!std::strcmp(argv[i], "--device") || !std::strcmp(argv[i], "--dtype")) ++i;
      continue;
    }
    out.push_back(argv[i]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags f = parse_flags(argc, argv);
    auto pos = positional(argc, argv);
    const LMShape s = LMShape::parse(int(pos.size()), pos.data());
    const bool cuda = f.device == "cuda", bf16 = f.dtype == "bfloat16";
    at::set_num_threads(static_cast<int>(s.threads));
    fmt::print("gpt_train: {} device={} dtype={} data={}\n", s.describe(), f.device, f.dtype,
               f.random_shards ? "random token shards" : "sotu");
    fmt::print("peers on torch {} ({})\n", peer_torch_version(), strata::python_program());
    const std::string config = (source_dir() / "configs/pretrain/gpt-sotu.yaml").string();
    TempDir data("bench-gpt-train-data");
    std::vector<std::string> extra = {"device=" + f.device, "trainer.dtype=" + f.dtype};
    if (cuda) {
      extra.insert(extra.end(), {"trainer.tf32=true", "trainer.pin_memory=true", "optimizer.fused=true"});
    }
    auto overrides = [&](int64_t steps) {
      auto o = s.train_overrides(data.path(), steps);
      if (f.random_shards) {
        o.push_back(fmt::format("data={{shards: {}, block_size: {}, eval_windows: 16}}",
                                data.path() + "/shards", s.T));
        o.push_back(fmt::format("model.vocab_size={}", s.V));
      }
      o.insert(o.end(), extra.begin(), extra.end());
      return o;
    };
    if (f.random_shards) {
      torch::manual_seed(0);
      const int64_t train_tokens = std::max<int64_t>(s.B * s.T * (s.steps + 2), 1 << 20);
      strata::pretrain::write_token_shards(
          data.path() + "/shards",
          {{"train", torch::randint(s.V, {train_tokens})},
           {"validation", torch::randint(s.V, {16 * (s.T + 1)})}},
          s.V, /*eos_id=*/-1);
    } else {
      fmt::print("preparing the data once (tokenizer and shards) with a 1-step run\n");
      strata_train_best(config, overrides(1), "tokens_per_s", 0);
    }
    const std::string peer_args = fmt::format("--device {} --dtype {}", f.device, f.dtype);

    double peak = 0, alone = 0, strata = 0, eager = 0, compiled = 0;
    for (int round = 0; round < s.rounds; ++round) {
      const double p = cuda ? 0.0 : matmul_peak_gflops(1024, bf16 ? torch::kBFloat16 : torch::kFloat);
      const double a = cuda ? 0.0 : run_model_alone(s, bf16);
      const double st = strata_train_best(config, overrides(s.steps), "tokens_per_s", /*warmup=*/3);
      const double py = s.run_peer("bench/gpt_train_py.py", peer_args);
      const double pc = f.compile ? s.run_peer("bench/gpt_train_py.py", peer_args + " --compile") : 0.0;
      fmt::print("round {}: matmul {:.1f} GFLOP/s; model alone {:.0f}, strata train {:.0f}, "
                 "eager {:.0f}, compile {:.0f} tokens/s\n",
                 round + 1, p, a, st, py, pc);
      peak = std::max(peak, p), alone = std::max(alone, a);
      strata = std::max(strata, st), eager = std::max(eager, py), compiled = std::max(compiled, pc);
    }
    const double flops_per_token = strata::models::GPT(gpt_options(s))->train_flops_per_unit();
    const double peak_flops = cuda ? strata::peak_flops(torch::Device(torch::kCUDA, 0)) : peak * 1e9;
    auto share = [&](double tps) { return peak_flops > 0 ? 100.0 * tps * flops_per_token / peak_flops : 0.0; };
    fmt::print("{:.1f} MFLOP/token; peak {:.1f} TFLOP/s ({})\n", flops_per_token / 1e6,
               peak_flops / 1e12, cuda ? "dense bf16 of the GPU" : bf16 ? "1024^3 bf16 matmul, measured" : "1024^3 fp32 matmul, measured");
    if (!cuda) fmt::print("model alone: {:.0f} tokens/s = {:.0f}% of peak\n", alone, share(alone));
    fmt::print("py eager tokens/s {:.0f} = {:.1f}% of peak\n", eager, share(eager));
    if (f.compile) fmt::print("py compile tokens/s {:.0f} = {:.1f}% of peak\n", compiled, share(compiled));
    fmt::print("strata train tokens/s {:.0f} = {:.1f} GFLOP/s = {:.1f}% of peak\n", strata,
               strata * flops_per_token / 1e9, share(strata));
    if (!(eager > 0)) throw std::runtime_error("the eager peer printed no tokens/s");
    if (f.compile && !(compiled > 0)) throw std::runtime_error("the compile peer printed no tokens/s");
    fmt::print("ratio strata train/eager {:.3f}\n", strata / eager);
    if (f.compile) fmt::print("ratio strata train/compile {:.3f}\n", strata / compiled);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpt_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
