// GPT pre-training end to end with real processes: kill at a random step and resume to the
// same losses; two data-parallel processes over loopback (Gloo) matching one process.

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include "core/safetensors.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using namespace strata::testing;

namespace {

const char* kConfig = "tests/assets/gpt-tiny.yaml";

std::map<int64_t, double> loss_values(const std::string& metrics_path) {
  std::map<int64_t, double> out;
  std::ifstream in(metrics_path);
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line);
    if (row.contains("loss")) out[row["step"].get<int64_t>()] = row["loss"].get<double>();
  }
  return out;
}

std::map<int64_t, std::string> loss_texts(const std::string& metrics_path) {
  std::map<int64_t, std::string> out;
  std::ifstream in(metrics_path);
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line);
    if (row.contains("loss")) out[row["step"].get<int64_t>()] = row["loss"].dump();
  }
  return out;
}

std::string final_weights(const std::string& run_dir) {
  return run_dir + "/checkpoints/" + read_text(run_dir + "/checkpoints/latest").substr(0, 12) +
         "/model.safetensors";
}

}  // namespace

TEST_CASE("pre-training writes results with the unigram baseline", "[pretrain]") {
  auto dir = temp_dir("pretrain-basic");
  auto r = run_strata({"train", kConfig, "out_dir=" + dir, "trainer.max_steps=10"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto results = nlohmann::json::parse(read_text(dir + "/results.json"));
  CHECK(results["unigram_loss"].get<double>() > 1.0);
  CHECK(results["results"].contains("eval/validation/loss"));
  CHECK(fs::exists(dir + "/checkpoints/step-0000010/tokenizer.model"));
  auto rows = read_text(dir + "/metrics.jsonl");
  CHECK(rows.find("tokens_per_s") != std::string::npos);
  CHECK(rows.find("\"mfu\"") != std::string::npos);

  auto gen = run_strata(
      {"generate", "--model", dir, "--prompt", "The Congress", "--max-tokens", "8", "--seed", "1"});
  INFO(gen.output);
  CHECK(gen.status == 0);
  CHECK(gen.output.rfind("The Congress", 0) == 0);
  fs::remove_all(dir);
}

TEST_CASE("pre-training refuses bad data with exit 2", "[pretrain]") {
  auto dir = temp_dir("pretrain-bad");
  auto r = run_strata({"train", kConfig, "out_dir=" + dir, "data.corpus=[no/such/*.txt]"});
  CHECK(r.status == 2);
  r = run_strata({"train", kConfig, "out_dir=" + dir, "data.block_size=64"});
  CHECK(r.status == 2);
  CHECK(r.output.find("longer than the model's block_size 32") != std::string::npos);
  r = run_strata({"train", kConfig, "out_dir=" + dir, "data.tokenizer.vocab_size=60000"});
  CHECK(r.status == 2);
  std::ofstream(dir + "-empty.txt") << "\n\n  \n";
  r = run_strata({"train", kConfig, "out_dir=" + dir, "data.corpus=[" + dir + "-empty.txt]"});
  CHECK(r.status == 2);
  CHECK(r.output.find("is empty") != std::string::npos);
  // Each refusal is one line, and nothing was written.
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  CHECK(!fs::exists(dir + "/checkpoints"));
  fs::remove(dir + "-empty.txt");
  fs::remove_all(dir);
}

TEST_CASE("pre-training killed at a random step resumes bitwise", "[pretrain][resume]") {
  auto base = temp_dir("pretrain-resume");
  const std::string whole = base + "/whole", killed = base + "/killed";
  auto ref = run_strata({"train", kConfig, "out_dir=" + whole});
  REQUIRE(ref.status == 0);

  std::mt19937 rng(std::random_device{}());
  const int64_t kill_after = 5 * std::uniform_int_distribution<int64_t>(1, 9)(rng);
  pid_t pid = spawn_strata({"train", kConfig, "out_dir=" + killed}, base + "/killed.log");
  const std::string want = fmt::format("step-{:07}", kill_after);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(killed + "/checkpoints/" + want)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  wait_for(pid);
  INFO("killed after " << want);
  REQUIRE_FALSE(fs::exists(killed + "/results.json"));

  auto resumed = run_strata({"train", kConfig, "out_dir=" + killed, "resume=true"});
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  auto a = loss_texts(whole + "/metrics.jsonl");
  auto b = loss_texts(killed + "/metrics.jsonl");
  REQUIRE(a.size() == 60);
  CHECK(a == b);
  fs::remove_all(base);
}

TEST_CASE("two Gloo processes match one process with the same global batch",
          "[pretrain][distributed]") {
  auto base = temp_dir("pretrain-ddp");
  const std::string one = base + "/one", two = base + "/two";
  auto single = run_strata(
      {"train", kConfig, "out_dir=" + one, "trainer.max_steps=12", "trainer.trace_samples=true"});
  REQUIRE(single.status == 0);

  const int port = 29500 + int(getpid() % 2000);
  const std::string env = fmt::format("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={}", port);
  std::vector<std::string> args = {"train", kConfig, "out_dir=" + two, "trainer.max_steps=12",
                                   "trainer.trace_samples=true"};
  pid_t r0 = spawn_strata(args, base + "/rank0.log", "RANK=0 " + env);
  pid_t r1 = spawn_strata(args, base + "/rank1.log", "RANK=1 " + env);
  int s0 = wait_for(r0), s1 = wait_for(r1);
  INFO(read_text(base + "/rank0.log") << read_text(base + "/rank1.log"));
  REQUIRE(s0 == 0);
  REQUIRE(s1 == 0);

  auto a = loss_values(one + "/metrics.jsonl");
  auto b = loss_values(two + "/metrics.jsonl");
  REQUIRE(a.size() == 12);
  REQUIRE(b.size() == 12);
  for (const auto& [step, loss] : a) CHECK(b[step] == Approx(loss).margin(1e-5));

  // The ranks saw different samples, and together each step's whole global batch.
  auto samples = [](const std::string& path) {
    std::map<std::pair<int64_t, int64_t>, std::multiset<std::string>> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      auto row = nlohmann::json::parse(line);
      for (const auto& h : row["rows"]) {
        out[{row["step"].get<int64_t>(), row["micro"].get<int64_t>()}].insert(h.get<std::string>());
      }
    }
    return out;
  };
  auto global = samples(one + "/samples/rank-0.jsonl");
  auto rank0 = samples(two + "/samples/rank-0.jsonl");
  auto rank1 = samples(two + "/samples/rank-1.jsonl");
  REQUIRE(global.size() == 12);  // 12 steps of one micro-batch
  REQUIRE(rank0.size() == 12);
  REQUIRE(rank1.size() == 12);
  for (const auto& [key, rows] : global) {
    INFO("step " << key.first);
    CHECK(rank0[key].size() == rows.size() / 2);
    CHECK(rank1[key].size() == rows.size() / 2);
    std::multiset<std::string> both = rank0[key];
    both.insert(rank1[key].begin(), rank1[key].end());
    CHECK(both == rows);
    std::vector<std::string> shared;
    std::set_intersection(rank0[key].begin(), rank0[key].end(), rank1[key].begin(),
                          rank1[key].end(), std::back_inserter(shared));
    CHECK(shared.empty());
  }

  auto wa = strata::read_safetensors(final_weights(one));
  auto wb = strata::read_safetensors(final_weights(two));
  REQUIRE(wa.tensors.size() == wb.tensors.size());
  for (const auto& [name, t] : wa.tensors) {
    INFO(name);
    CHECK((t - wb.get(name)).abs().max().item<double>() < 1e-5);
  }
  fs::remove_all(base);
}
