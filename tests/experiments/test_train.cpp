// `strata train` end to end with real child processes: bad input, the run-directory
// policy, and kill-and-resume giving the same per-step losses as an uninterrupted run.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "tests/support/process.h"

namespace fs = std::filesystem;
using namespace strata::testing;

namespace {

const char* kConfig = "tests/assets/cnn-tiny.yaml";

// step -> loss, as written (JSON numbers round-trip doubles exactly).
std::map<int64_t, std::string> losses(const std::string& metrics_path) {
  std::map<int64_t, std::string> out;
  std::ifstream in(metrics_path);
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line);
    if (row.contains("loss")) out[row["step"].get<int64_t>()] = row["loss"].dump();
  }
  return out;
}

}  // namespace

TEST_CASE("train refuses bad input with exit 2 and one line", "[train]") {
  auto dir = temp_dir("train-bad");
  auto r = run_strata({"train", kConfig, "out_dir=" + dir, "model.n_layr=3"});
  CHECK(r.status == 2);
  CHECK(r.output.find("unknown key 'model.n_layr'") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);

  r = run_strata({"train", kConfig, "out_dir=" + dir, "trainer.batch_size=0"});
  CHECK(r.status == 2);
  CHECK(r.output.find("'trainer.batch_size' must be >= 1, got 0") != std::string::npos);

  r = run_strata({"train", "no/such/config.yaml"});
  CHECK(r.status == 2);
  fs::remove_all(dir);
}

TEST_CASE("train refuses an out_dir with checkpoints unless resume or overwrite", "[train]") {
  auto dir = temp_dir("train-refuse");
  auto first = run_strata({"train", kConfig, "out_dir=" + dir, "trainer.max_steps=4"});
  REQUIRE(first.status == 0);
  const std::string latest = read_text(dir + "/checkpoints/latest");
  auto again = run_strata({"train", kConfig, "out_dir=" + dir, "trainer.max_steps=4"});
  CHECK(again.status == 2);
  CHECK(again.output.find("already holds checkpoints") != std::string::npos);
  CHECK(read_text(dir + "/checkpoints/latest") == latest);  // nothing saved was touched
  auto over = run_strata({"train", kConfig, "out_dir=" + dir, "trainer.max_steps=4",
                          "overwrite=true"});
  CHECK(over.status == 0);
  fs::remove_all(dir);
}

TEST_CASE("a run killed with SIGKILL resumes to the same per-step losses", "[train][resume]") {
  auto base = temp_dir("train-resume");
  const std::string whole = base + "/whole", killed = base + "/killed";
  auto ref = run_strata({"train", kConfig, "out_dir=" + whole});
  REQUIRE(ref.status == 0);

  pid_t pid = spawn_strata({"train", kConfig, "out_dir=" + killed}, base + "/killed.log");
  // Kill as soon as the first checkpoint is complete: mid-epoch, long before the end.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(killed + "/checkpoints/latest") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(fs::exists(killed + "/checkpoints/latest"));
  kill(pid, SIGKILL);
  CHECK(wait_for(pid) == 128 + SIGKILL);
  REQUIRE_FALSE(fs::exists(killed + "/results.json"));  // it really was interrupted

  auto resumed = run_strata({"train", kConfig, "out_dir=" + killed, "resume=true"});
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("resumed from") != std::string::npos);

  auto a = losses(whole + "/metrics.jsonl");
  auto b = losses(killed + "/metrics.jsonl");
  REQUIRE(a.size() > 20);
  CHECK(a == b);  // every step once, bitwise the same loss
  CHECK(read_text(whole + "/results.json").find("eval/fashion_mnist/acc") != std::string::npos);
  fs::remove_all(base);
}
