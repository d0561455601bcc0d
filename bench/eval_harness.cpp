// bench_eval_harness: `strata eval` against lm-evaluation-harness itself (`lm_eval --model
// hf`, 0.4.13 from .venv) on the same exported model and the same task files, in one run.
//
// Usage: bench_eval_harness [docs threads batch]   (default 200 2 8)
//
// The model: the in-context benches' GPT (bench/common.h, eval_bench_model: 4 layers, n_embd
// 128, a 1,024-token context, pre-trained once), exported with `strata export --format hf`
// (config.json, model.safetensors, tokenizer.json). The tasks, one directory that both tools
// read (the harness runs in it, so relative data_files resolve alike):
// - addition: multiple choice, 4 choices, 5 shots first_n (configs/tasks/addition.yaml);
// - arithmetic_2da: loglikelihood, 5 shots, the default sampler (`strata tasks export`);
// - copy_words: generate_until, 5 shots, the default sampler (`strata tasks export`).
// The default sampler's shots are the harness's own draws (random.Random(1234).sample per
// document in order, tasks/python_random.h), so the prompts are the same on both sides.
// Both sides: fp32, the same batch size and thread count, the first `docs` documents of each
// task; the harness keeps its default logits_cache (choices sharing a context share one
// forward). tests/tasks/harness_check.py runs lm_eval and compares the two tools' samples and
// results files document by document: log-likelihoods within 1e-4, is-greedy flags,
// responses, acc, acc_norm and exact_match equal, stderrs within 1e-6. The bench stops
// (exit 1) if any differs.
//
// Prints, per side, the wall-clock seconds of the whole command (what a user waits for:
// start-up and model loading included) and the tool's own evaluation seconds
// (total_evaluation_time_seconds), requests/s on each, and last `ratio`: Strata's
// requests/s over the harness's, by wall clock.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "bench/common.h"

using namespace strata::bench;
using json = nlohmann::json;

namespace {

// Rewrites an exported task file (a comment line, then JSON) with `edit` applied.
void edit_task(const std::string& path, const std::function<void(json&)>& edit) {
  std::ifstream in(path);
  std::string comment, rest, line;
  std::getline(in, comment);
  while (std::getline(in, line)) rest += line + "\n";
  json j = json::parse(rest);
  edit(j);
  std::ofstream(path) << comment << "\n" << j.dump(2) << "\n";
}

// Requests in a samples file: one per gen_args entry of each document and filter "none" or
// the first filter seen.
int64_t requests_in(const std::string& dir, const std::string& task) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("samples_" + task + "_", 0) != 0) continue;
    std::ifstream in(e.path());
    int64_t n = 0;
    std::string first_filter;
    for (std::string line; std::getline(in, line);) {
      const json s = json::parse(line);
      if (first_filter.empty()) first_filter = s["filter"].get<std::string>();
      if (s["filter"] == first_filter) n += int64_t(s["arguments"].size());
    }
    return n;
  }
  throw std::runtime_error("no samples file for " + task + " in " + dir);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t docs = argc > 1 ? std::stoll(argv[1]) : 200;
  const int64_t threads = argc > 2 ? std::stoll(argv[2]) : 2;
  const int64_t batch = argc > 3 ? std::stoll(argv[3]) : 8;
  try {
    fmt::print("bench_eval_harness: {} documents per task, batch {}, {} threads\n", docs, batch,
               threads);
    fmt::print("harness on torch {} ({})\n", peer_torch_version(), python_program());
    const std::string strata = shell_quote(strata_program());
    const std::string model = eval_bench_model();
    TempDir dir("bench-eval-harness");
    const std::string hf = dir.path() + "/hf", tasks = dir.path() + "/tasks";
    run_child(fmt::format("{} export {} --format hf --out {}", strata, shell_quote(model),
                          shell_quote(hf)),
              "  export | ");

    fs::create_directories(fs::path(tasks) / "data");
    const fs::path src = source_dir() / "configs/tasks";
    for (const char* f : {"addition_train.jsonl", "addition_test.jsonl"}) {
      fs::copy_file(src / "data" / f, fs::path(tasks) / "data" / f);
    }
    {
      std::ifstream in(src / "addition.yaml");
      std::string yaml((std::istreambuf_iterator<char>(in)), {});
      const auto at = yaml.find("num_fewshot: 2");
      if (at == std::string::npos) throw std::runtime_error("addition.yaml: no 'num_fewshot: 2'");
      yaml.replace(at, 14, "num_fewshot: 5");
      std::ofstream(fs::path(tasks) / "addition.yaml") << yaml;
    }
    for (const char* t : {"arithmetic_2da", "copy_words"}) {
      run_child(fmt::format("{} tasks export {} --out {} --overwrite", strata, t, shell_quote(tasks)),
                "  tasks | ");
    }
    // Both keep the default sampler, whose draws Strata makes as the harness does.
    edit_task(tasks + "/arithmetic_2da.yaml", [](json& j) { j["num_fewshot"] = 5; });
    edit_task(tasks + "/copy_words.yaml", [](json& j) { j["num_fewshot"] = 5; });

    const std::vector<std::string> names = {"addition", "arithmetic_2da", "copy_words"};
    std::string task_args;
    for (const auto& t : names) task_args += " --task " + shell_quote(tasks + "/" + t + ".yaml");
    const std::string strata_out = dir.path() + "/strata";
    const auto t0 = Clock::now();
    run_child(fmt::format("{} eval --model {} {} --limit {} --batch-size {} --threads {} "
                          "--log-samples --out {}",
                          strata, shell_quote(hf), task_args, docs, batch, threads,
                          shell_quote(strata_out + "/results.json")),
              "  strata | ");
    const double strata_wall = seconds_since(t0);
    const json ours = json::parse(std::ifstream(strata_out + "/results.json"));
    const double strata_eval = std::stod(ours["total_evaluation_time_seconds"].get<std::string>());

    const std::string check = run_child(
        fmt::format("{} {} --hf {} --task-dir {} --lm-out {} --strata-out {} --limit {} "
                    "--batch-size {} --threads {} addition arithmetic_2da copy_words",
                    shell_quote(python_program()),
                    shell_quote((source_dir() / "tests/tasks/harness_check.py").string()),
                    shell_quote(hf), shell_quote(tasks), shell_quote(dir.path() + "/lm_eval"),
                    shell_quote(strata_out), docs, batch, threads),
        "  harness | ");
    const double harness_wall = find_number(check, "lm_eval wall seconds ");
    const double harness_eval = find_number(check, "lm_eval evaluation seconds ");

    int64_t requests = 0;
    fmt::print("\n{:<16} {:>9}\n", "task", "requests");
    for (const auto& t : names) {
      const int64_t n = requests_in(strata_out, t);
      requests += n;
      fmt::print("{:<16} {:>9}\n", t, n);
    }
    fmt::print("\n{:<34} {:>10} {:>12} {:>12} {:>14}\n", "", "wall s", "requests/s", "eval s",
               "eval requests/s");
    fmt::print("{:<34} {:>10.2f} {:>12.1f} {:>12.2f} {:>14.1f}\n", "strata eval", strata_wall,
               requests / strata_wall, strata_eval, requests / strata_eval);
    fmt::print("{:<34} {:>10.2f} {:>12.1f} {:>12.2f} {:>14.1f}\n", "lm_eval --model hf",
               harness_wall, requests / harness_wall, harness_eval, requests / harness_eval);
    fmt::print("ratio of evaluation times (harness/strata) {:.2f}\n", harness_eval / strata_eval);
    fmt::print("ratio strata/harness requests/s (wall clock) {:.2f}\n", harness_wall / strata_wall);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_eval_harness: %s\n", e.what());
    return 1;
  }
  return 0;
}
