#pragma once
// What the benchmarks share: running a child process (`strata train`, a Python peer),
// reading a run's metrics.jsonl, and the matmul peak that speeds are measured against.

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <torch/torch.h>

#include "core/clock.h"
#include "core/python.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using strata::seconds_since;  // core/clock.h

// The source tree (for configs and peers) and the strata program beside bench/.
inline fs::path source_dir() { return fs::path(__FILE__).parent_path().parent_path(); }
inline std::string strata_program() {
  return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "strata").string();
}
using strata::python_program;  // core/python.h: $STRATA_PYTHON, else the build's .venv

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command` (stderr joined to stdout), echoing each line with `prefix`; returns the
// output. A non-zero exit is fatal: the numbers would mean nothing.
inline std::string run_child(const std::string& command, const std::string& prefix) {
  std::fflush(stdout);
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start: " + command);
  std::string output;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    output += line;
    fmt::print("{}{}", prefix, line);
    std::fflush(stdout);
  }
  const int status = pclose(pipe);
  if (status != 0) throw std::runtime_error(fmt::format("failed ({}): {}", status, command));
  return output;
}

// The number after `key` on the last output line that has it; NaN when none has.
inline double find_number(const std::string& output, const std::string& key) {
  double value = std::nan("");
  for (size_t at = output.find(key); at != std::string::npos; at = output.find(key, at + 1)) {
    value = std::atof(output.c_str() + at + key.size());
  }
  return value;
}

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& stem) {
    std::string pattern = (fs::temp_directory_path() / (stem + "-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The rows of out_dir/metrics.jsonl that hold `field` (training rows, not eval rows).
inline std::vector<nlohmann::json> metrics_rows(const std::string& out_dir,
                                                const std::string& field) {
  std::ifstream in(fs::path(out_dir) / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line, nullptr, false);
    if (!row.is_discarded() && row.contains(field)) rows.push_back(row);
  }
  if (rows.empty()) throw std::runtime_error(out_dir + "/metrics.jsonl has no " + field + " rows");
  return rows;
}

// The best of a few n^3 float matmuls on the current intra-op threads, in GFLOP/s.
// An n^3 matrix product in `dtype` (bf16 runs use the CPU's bf16 kernels: AMX or
// AVX512-BF16 where lscpu shows them), best of 8, in GFLOP/s.
inline double matmul_peak_gflops(int64_t n = 1024, torch::ScalarType dtype = torch::kFloat) {
  auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  auto c = torch::empty({n, n}, a.options());
  double best = 1e9;
  for (int i = 0; i < 8; ++i) {
    auto t0 = Clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * double(n) * n * n / best / 1e9;
}

// `strata train CONFIG OVERRIDES...` into a fresh out_dir; the best value of `field` in
// its metrics.jsonl rows past step `warmup` (0 when there are none).
inline double strata_train_best(const std::string& config, const std::vector<std::string>& overrides,
                                const std::string& field, int64_t warmup) {
  TempDir out("bench-strata-train");
  std::string command = shell_quote(strata_program()) + " train " + shell_quote(config) +
                        " " + shell_quote("out_dir=" + out.path()) + " overwrite=true";
  for (const auto& o : overrides) command += " " + shell_quote(o);
  run_child(command, "  strata | ");
  double best = 0.0;
  for (const auto& row : metrics_rows(out.path(), field)) {
    if (row["step"].get<int64_t>() > warmup) best = std::max(best, row[field].get<double>());
  }
  return best;
}

// The torch wheel the peers run on, as `torch.__version__ (CUDA torch.version.cuda)`.
inline std::string peer_torch_version(const std::string& python = python_program()) {
  FILE* p = popen((shell_quote(python) +
                   " -c 'import torch; print(torch.__version__, \"(CUDA\", torch.version.cuda, "
                   "end=\")\")' 2>/dev/null")
                      .c_str(),
                  "r");
  if (!p) return "unknown";
  char line[256] = {0};
  std::string out = std::fgets(line, sizeof line, p) ? line : "unknown";
  pclose(p);
  return out;
}

// The in-context evaluation benches' model (bench_eval, bench_eval_harness): a GPT (4 layers,
// 4 heads, n_embd 128, 1,024-token context) pre-trained by `strata train
// configs/pretrain/gpt-sotu.yaml` for 300 steps into <build>/bench-eval-model once, then
// reused. Returns the run directory.
inline std::string eval_bench_model() {
  const fs::path dir = fs::path(strata_program()).parent_path() / "bench-eval-model";
  if (fs::exists(dir / "results.json")) return dir.string();
  fmt::print("pre-training the bench model into {} (once)\n", dir.string());
  const std::vector<std::string> overrides = {
      "model.n_layer=4", "model.n_head=4", "model.n_embd=128", "model.block_size=1024",
      "data.block_size=1024", "trainer.batch_size=4", "trainer.tokens_per_step=4096",
      "trainer.max_steps=300", "trainer.eval_every=300", "trainer.log_every=50",
      "schedule.warmup_steps=30", "overwrite=true"};
  std::string command = shell_quote(strata_program()) + " train " +
                        shell_quote((source_dir() / "configs/pretrain/gpt-sotu.yaml").string()) +
                        " " + shell_quote("out_dir=" + dir.string());
  for (const auto& o : overrides) command += " " + o;
  run_child(command, "  train | ");
  return dir.string();
}

inline std::string latest_checkpoint(const std::string& run) {
  std::ifstream in(fs::path(run) / "checkpoints" / "latest");
  std::string name;
  std::getline(in, name);
  return (fs::path(run) / "checkpoints" / name).string();
}

// A language-model training benchmark's shape and length (its command-line arguments).
struct LMShape {
  int64_t V = 4096, T = 128, L = 4, H = 4, D = 256, B = 16, threads = 2, steps = 15;
  int rounds = 3;  // STRATA_BENCH_ROUNDS

  // [V T L H D B threads steps]; fewer than 8 arguments keep the defaults.
  static LMShape parse(int argc, char** argv) {
    LMShape s;
    if (argc > 8) {
      int64_t* fields[] = {&s.V, &s.T, &s.L, &s.H, &s.D, &s.B, &s.threads, &s.steps};
      for (int i = 0; i < 8; ++i) *fields[i] = std::stoll(argv[i + 1]);
    }
    const char* rounds = std::getenv("STRATA_BENCH_ROUNDS");
    if (rounds) s.rounds = std::max(1, std::atoi(rounds));
    return s;
  }

  std::string describe() const {
    return fmt::format("V={} T={} L={} H={} D={} B={} threads={} steps={} rounds={}", V, T, L, H,
                       D, B, threads, steps, rounds);
  }

  // Overrides that give a pre-training config (configs/pretrain/*-sotu.yaml) this shape and
  // the peers' recipe: no dropout, AdamW lr 3e-4 with default betas and weight decay 0.01,
  // a constant rate, no clipping, one micro-batch per step, a metrics row per step, data
  // prepared once in `data_dir`, evaluation (16 windows) and a checkpoint at the end only.
  std::vector<std::string> train_overrides(const std::string& data_dir, int64_t max_steps) const {
    return {fmt::format("threads={}", threads), "data.data_dir=" + data_dir,
            fmt::format("data.tokenizer.vocab_size={}", V), fmt::format("data.block_size={}", T),
            "data.eval_windows=16", fmt::format("model.block_size={}", T),
            fmt::format("model.n_layer={}", L), fmt::format("model.n_head={}", H),
            fmt::format("model.n_embd={}", D), "model.dropout=0.0", "optimizer.lr=3e-4",
            "optimizer.betas=[0.9,0.999]", "optimizer.eps=1e-8", "optimizer.weight_decay=0.01",
            "optimizer.no_decay=[]", "schedule.type=constant", "schedule.warmup_steps=0",
            fmt::format("trainer.batch_size={}", B), "trainer.tokens_per_step=0",
            "trainer.clip=0", fmt::format("trainer.max_steps={}", max_steps),
            "trainer.log_every=1", "trainer.eval_every=1000000", "trainer.keep_last=1"};
  }

  // A Python peer's tokens/s from its line "py tokens/s N" (it takes the same arguments,
  // then `extra`). The peer's first line names the torch it ran on (torch_version()).
  double run_peer(const std::string& script, const std::string& extra = "") const {
    const std::string out = run_child(
        fmt::format("{} {} {} {} {} {} {} {} {} {} {}", shell_quote(python_program()),
                    shell_quote((source_dir() / script).string()), V, T, L, H, D, B, threads,
                    steps, extra),
        "  peer | ");
    return find_number(out, "py tokens/s ");
  }
};

}  // namespace strata::bench
