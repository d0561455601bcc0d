// bench_eval: in-context evaluation through `strata eval` (the user's path) against a plain
// Python PyTorch implementation of lm-evaluation-harness's method (bench/eval_py.py).
//
// Usage: bench_eval [docs threads batch]   (default 200 2 8)
//
// The model: a GPT (4 layers, 4 heads, n_embd 128) with a 1,024-token context, pre-trained
// by `strata train configs/pretrain/gpt-sotu.yaml` for 300 steps with a 4,096-piece BPE
// tokenizer, into <build>/bench-eval-model (reused when it is there). The tasks, written
// into a temporary folder from /usr/share/dict/words with a fixed seed:
// - `bench_mc`, multiple choice, 5 shots `first_n`: "Words: w1 w2 w3 w4 w5. Listed:" with
//   four one-word choices, one of them listed;
// - `bench_gen`, generate_until "\n" (8 tokens at most), 5 shots `first_n`: "Words: w1 w2
//   w3 w4. Last:" -> w4, exact_match after remove_whitespace.
// Strata's time is the results file's total_evaluation_time_seconds (tokenizing and
// scoring; loading the checkpoint is not counted), the peer's the same span of its own.
// Both sides must give the same accuracy; the bench stops (exit 1) when they differ.
//
// Prints Strata with each speed switch off in turn (tasks/evaluate.h), the peer, eval time
// against K in {0, 1, 8, 32} for both, and last `ratio`: Strata's multiple-choice
// requests per second over the peer's at 5 shots.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <set>

#include "bench/common.h"

namespace {

using namespace strata::bench;
using json = nlohmann::json;

struct Side {
  double seconds = 0;
  int64_t requests = 0;
  double acc = 0;
};

std::vector<std::string> dictionary_words() {
  std::ifstream in("/usr/share/dict/words");
  if (!in) throw std::runtime_error("/usr/share/dict/words: missing (package wamerican)");
  std::vector<std::string> words;
  for (std::string w; std::getline(in, w);) {
    if (w.size() >= 4 && w.size() <= 8 &&
        std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      words.push_back(w);
    }
  }
  return words;
}

void write_tasks(const std::string& dir, int64_t n_test) {
  const auto words = dictionary_words();
  std::mt19937_64 rng(2024);
  auto word = [&] { return words[rng() % words.size()]; };
  auto write = [&](const std::string& name, int64_t n, bool mc) {
    std::ofstream out(dir + "/" + name);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<std::string> listed;
      std::set<std::string> seen;
      while (int64_t(listed.size()) < (mc ? 5 : 4)) {
        auto w = word();
        if (seen.insert(w).second) listed.push_back(w);
      }
      std::string text = "Words:";
      for (const auto& w : listed) text += " " + w;
      json doc;
      if (mc) {
        std::vector<std::string> choices;
        while (choices.size() < 3) {
          auto w = word();
          if (seen.insert(w).second) choices.push_back(w);
        }
        const int64_t label = int64_t(rng() % 4);
        choices.insert(choices.begin() + label, listed[rng() % listed.size()]);
        doc = {{"text", text + ". Listed:"}, {"choices", choices}, {"label", label}};
      } else {
        doc = {{"text", text + ". Last:"}, {"answer", listed.back()}};
      }
      out << doc.dump() << "\n";
    }
  };
  write("mc_train.jsonl", 32, true);
  write("mc_test.jsonl", n_test, true);
  write("gen_train.jsonl", 32, false);
  write("gen_test.jsonl", n_test, false);
  std::ofstream(dir + "/bench_mc.yaml") << R"(task: bench_mc
dataset_path: json
dataset_kwargs: {data_files: {train: mc_train.jsonl, test: mc_test.jsonl}}
training_split: train
test_split: test
doc_to_text: "{{text}}"
doc_to_choice: choices
doc_to_target: label
output_type: multiple_choice
num_fewshot: 5
fewshot_config: {sampler: first_n}
metric_list: [{metric: acc}]
metadata: {version: 1.0}
)";
  std::ofstream(dir + "/bench_gen.yaml") << R"(task: bench_gen
dataset_path: json
dataset_kwargs: {data_files: {train: gen_train.jsonl, test: gen_test.jsonl}}
training_split: train
test_split: test
doc_to_text: "{{text}}"
doc_to_target: answer
output_type: generate_until
generation_kwargs: {until: ["\n"], max_gen_toks: 8}
num_fewshot: 5
fewshot_config: {sampler: first_n}
filter_list:
  - name: strip
    filter: [{function: remove_whitespace}, {function: take_first}]
metric_list: [{metric: exact_match}]
metadata: {version: 1.0}
)";
}

Side run_strata(const std::string& model, const std::string& task, int64_t k, int64_t limit,
                int64_t batch, int64_t threads, const std::string& flags,
                const std::string& out_dir) {
  const std::string out = out_dir + "/strata.json";
  std::string command = fmt::format(
      "{} eval --model {} --task {} --num-fewshot {} --limit {} --batch-size {} --threads {} "
      "--out {} {}",
      shell_quote(strata_program()), shell_quote(model), shell_quote(task), k, limit, batch,
      threads, shell_quote(out), flags);
  run_child(command + " > /dev/null", "");
  auto j = json::parse(std::ifstream(out));
  Side s;
  s.seconds = std::stod(j["total_evaluation_time_seconds"].get<std::string>());
  const auto& name = j["results"].begin().key();
  const auto& r = j["results"][name];
  s.acc = r.contains("acc,none") ? r["acc,none"].get<double>() : r["exact_match,strip"].get<double>();
  const int64_t docs = j["n-samples"][name]["effective"].get<int64_t>();
  s.requests = name == "bench_mc" ? 4 * docs : docs;
  return s;
}

Side run_peer(const std::string& ckpt, const std::string& dir, const std::string& which, int64_t k,
              int64_t limit, int64_t batch, int64_t threads) {
  auto out = run_child(fmt::format("{} {} {} 4 {} {} {} {} {} {}", python_program(),
                                   shell_quote((source_dir() / "bench/eval_py.py").string()),
                                   shell_quote(ckpt), shell_quote(dir), which, k, batch, threads,
                                   limit),
                       "");
  Side s;
  const auto at = out.rfind("result ");
  if (at == std::string::npos) throw std::runtime_error("peer printed no result");
  std::istringstream in(out.substr(at + 7));
  in >> s.seconds >> s.requests >> s.acc;
  return s;
}

void same_scores(const Side& a, const Side& b, const std::string& what) {
  if (std::abs(a.acc - b.acc) > 1e-9) {
    fmt::print("MISMATCH {}: strata {:.4f}, peer {:.4f}\n", what, a.acc, b.acc);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t docs = argc > 1 ? std::atoll(argv[1]) : 200;
  const int64_t threads = argc > 2 ? std::atoll(argv[2]) : 2;
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 8;
  try {
    TempDir dir("bench-eval");
    write_tasks(dir.path(), docs);
    const std::string model = eval_bench_model(), ckpt = latest_checkpoint(model);
    const std::string mc = dir.path() + "/bench_mc.yaml", gen = dir.path() + "/bench_gen.yaml";
    fmt::print("bench_eval: {} documents per task, batch {}, {} threads, model {}\n", docs, batch,
               threads, ckpt);
    fmt::print("peer on torch {} ({})\n", peer_torch_version(), python_program());

    fmt::print("\nmultiple choice, 5 shots first_n, {} requests ({} documents x 4 choices)\n",
               4 * docs, docs);
    fmt::print("{:<58} {:>8} {:>10} {:>6}\n", "", "seconds", "requests/s", "acc");
    auto row = [&](const std::string& name, const Side& s) {
      fmt::print("{:<58} {:>8.2f} {:>10.1f} {:>6.3f}\n", name, s.seconds,
                 double(s.requests) / s.seconds, s.acc);
    };
    const Side peer = run_peer(ckpt, dir.path(), "mc", 5, docs, batch, threads);
    row("peer: harness method (rows batched by length)", peer);
    const Side fast = run_strata(model, mc, 5, docs, batch, threads, "", dir.path());
    row("strata eval", fast);
    same_scores(fast, peer, "multiple choice");
    const Side no_share = run_strata(model, mc, 5, docs, batch, threads, "--no-shared-context", dir.path());
    row("strata eval --no-shared-context (prefix cache, batched rows)", no_share);
    const Side no_prefix = run_strata(model, mc, 5, docs, batch, threads, "--no-prefix-cache", dir.path());
    row("strata eval --no-prefix-cache (shared contexts only)", no_prefix);
    const Side none = run_strata(model, mc, 5, docs, batch, threads,
                                 "--no-prefix-cache --no-shared-context", dir.path());
    row("strata eval, both off (the harness's method)", none);
    const Side one = run_strata(model, mc, 5, docs, 1, threads,
                                "--no-prefix-cache --no-shared-context", dir.path());
    row("strata eval, both off, --batch-size 1", one);
    for (const auto* s : {&no_share, &no_prefix, &none, &one}) same_scores(*s, peer, "a switch");

    fmt::print("\ngenerate_until, 5 shots first_n, {} documents\n", docs);
    const Side gpeer = run_peer(ckpt, dir.path(), "gen", 5, docs, batch, threads);
    row("peer: KV cache, one document at a time", gpeer);
    const Side gfast = run_strata(model, gen, 5, docs, batch, threads, "", dir.path());
    row("strata eval (batched by length, prefix cache)", gfast);
    const Side gone = run_strata(model, gen, 5, docs, 1, threads, "--no-prefix-cache", dir.path());
    row("strata eval --batch-size 1 --no-prefix-cache", gone);
    same_scores(gfast, gpeer, "generation");
    same_scores(gone, gpeer, "generation");

    const int64_t kdocs = std::min<int64_t>(docs, 50);
    fmt::print("\nmultiple choice: eval seconds against shots K ({} documents)\n", kdocs);
    fmt::print("{:>4} {:>10} {:>10} {:>8}\n", "K", "strata s", "peer s", "ratio");
    for (int64_t k : {0, 1, 8, 32}) {
      const Side s = run_strata(model, mc, k, kdocs, batch, threads, "", dir.path());
      const Side p = run_peer(ckpt, dir.path(), "mc", k, kdocs, batch, threads);
      same_scores(s, p, fmt::format("K={}", k));
      fmt::print("{:>4} {:>10.2f} {:>10.2f} {:>8.2f}\n", k, s.seconds, p.seconds, p.seconds / s.seconds);
    }
    const double ratio = (double(fast.requests) / fast.seconds) / (double(peer.requests) / peer.seconds);
    fmt::print("\nratio strata/peer (multiple-choice requests/s, 5 shots): {:.2f}\n", ratio);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_eval: {}\n", e.what());
    return 1;
  }
  return 0;
}
