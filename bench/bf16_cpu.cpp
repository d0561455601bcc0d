// bench_bf16_cpu: bf16 autocast against fp32 on the CPU, both through `strata train`.
//
// Usage: bench_bf16_cpu [steps threads]   (default 300 2)
//
// The same run twice, alternating, on configs/pretrain/gpt-sotu.yaml (GPT L4 H4 C256 T128,
// V4096 BPE on the sotu corpus, data prepared once): `trainer.dtype=float32` and
// `trainer.dtype=bfloat16`, the same seed, steps and batches. Prints the CPU's bf16 flags
// (lscpu: amx_bf16, avx512_bf16; without either, bf16 matmuls are emulated and expected to
// be slower), the best tokens/s of each (after 3 warm-up steps) and the validation loss
// after the last step, evaluated under each run's own precision, and the ratios.

#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "bench/common.h"

using namespace strata::bench;

namespace {

std::string cpu_bf16_flags() {
  FILE* p = popen("lscpu | grep -o -w -E 'amx_bf16|avx512_bf16|amx_tile' | sort -u | tr '\\n' ' '", "r");
  if (!p) return "unknown";
  char buf[256] = {0};
  std::string out = std::fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  return out.empty() ? "neither amx_bf16 nor avx512_bf16" : out;
}

struct Run {
  double tokens_per_s = 0, val_loss = 0;
};

Run train(const std::string& config, const std::vector<std::string>& overrides) {
  TempDir out("bench-bf16-run");
  std::string command = shell_quote(strata_program()) + " train " + shell_quote(config) + " " +
                        shell_quote("out_dir=" + out.path());
  for (const auto& o : overrides) command += " " + shell_quote(o);
  run_child(command, "  strata | ");
  Run r;
  for (const auto& row : metrics_rows(out.path(), "tokens_per_s")) {
    if (row["step"].get<int64_t>() > 3) r.tokens_per_s = std::max(r.tokens_per_s, row["tokens_per_s"].get<double>());
  }
  std::ifstream in(fs::path(out.path()) / "results.json");
  r.val_loss = nlohmann::json::parse(in)["results"]["eval/validation/loss"].get<double>();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::stoll(argv[1]) : 300;
  const int64_t threads = argc > 2 ? std::stoll(argv[2]) : 2;
  const int rounds = std::getenv("STRATA_BENCH_ROUNDS") ? std::atoi(std::getenv("STRATA_BENCH_ROUNDS")) : 1;
  try {
    fmt::print("bf16_cpu: {} steps, {} threads, {} round(s); CPU bf16 flags: {}\n", steps, threads,
               rounds, cpu_bf16_flags());
    const std::string config = (source_dir() / "configs/pretrain/gpt-sotu.yaml").string();
    TempDir data("bench-bf16-data");
    auto overrides = [&](const std::string& dtype, int64_t n) {
      return std::vector<std::string>{
          fmt::format("threads={}", threads), "device=cpu", "data.data_dir=" + data.path(),
          "data.eval_windows=100", fmt::format("trainer.max_steps={}", n),
          "trainer.tokens_per_step=0", "trainer.log_every=1",
          fmt::format("trainer.eval_every={}", n), "trainer.keep_last=1",
          "schedule.warmup_steps=20", "trainer.dtype=" + dtype};
    };
    fmt::print("preparing the data once (tokenizer and shards) with a 1-step run\n");
    train(config, overrides("float32", 1));
    Run fp32, bf16;
    for (int round = 0; round < rounds; ++round) {
      const Run a = train(config, overrides("float32", steps));
      const Run b = train(config, overrides("bfloat16", steps));
      fmt::print("round {}: fp32 {:.0f} tokens/s, loss {:.4f}; bf16 {:.0f} tokens/s, loss {:.4f}\n",
                 round + 1, a.tokens_per_s, a.val_loss, b.tokens_per_s, b.val_loss);
      fp32.tokens_per_s = std::max(fp32.tokens_per_s, a.tokens_per_s);
      bf16.tokens_per_s = std::max(bf16.tokens_per_s, b.tokens_per_s);
      fp32.val_loss = a.val_loss, bf16.val_loss = b.val_loss;  // the same every round
    }
    fmt::print("fp32: {:.0f} tokens/s, validation loss after {} steps {:.4f}\n", fp32.tokens_per_s,
               steps, fp32.val_loss);
    fmt::print("bf16: {:.0f} tokens/s, validation loss after {} steps {:.4f}\n", bf16.tokens_per_s,
               steps, bf16.val_loss);
    fmt::print("ratio bf16/fp32 tokens/s {:.3f}; loss difference {:+.4f}\n",
               bf16.tokens_per_s / fp32.tokens_per_s, bf16.val_loss - fp32.val_loss);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bf16_cpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
