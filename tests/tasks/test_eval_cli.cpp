// `strata eval` end to end: a GPT trained here on tests/assets/gpt-tiny.yaml, the tiny
// tasks under tests/assets/tasks, and the harness-layout results file.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "tests/support/process.h"

namespace fs = std::filesystem;
using namespace strata::testing;

TEST_CASE("strata eval names a tokenizer that makes line breaks spaces", "[tasks][eval]") {
  auto dir = temp_dir("eval-newlines");
  auto train = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir,
                           "trainer.max_steps=2", "trainer.eval_every=10",
                           "data.tokenizer.keep_newlines=false", "data.data_dir=" + dir + "/data"});
  INFO(train.output);
  REQUIRE(train.status == 0);
  // tiny_mc's shots are joined by "\n\n": its prompts lose them through this tokenizer.
  auto r = run_strata({"eval", "--model", dir, "--task", "tests/assets/tasks/tiny_mc.yaml",
                       "--limit", "2", "--out", dir + "/eval.json", "--threads", "1"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("makes every line break a space") &&
                           Catch::Contains("tokenizer.model") && Catch::Contains("tiny_mc"));
}

TEST_CASE("strata eval: a trained checkpoint on three output types", "[tasks][eval]") {
  auto dir = temp_dir("eval-cli");
  auto train = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir,
                           "trainer.max_steps=10", "trainer.eval_every=10"});
  INFO(train.output);
  REQUIRE(train.status == 0);

  const std::string out = dir + "/eval.json";
  auto r = run_strata({"eval", "--model", dir, "--task", "tests/assets/tasks/tiny_mc.yaml",
                       "--task", "tests/assets/tasks/tiny_ll.yaml", "--task",
                       "tests/assets/tasks/tiny_gen.yaml", "--batch-size", "4", "--limit", "5",
                       "--out", out, "--threads", "1"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("|Tasks") != std::string::npos);
  CHECK(r.output.find("tiny_mc") != std::string::npos);
  auto j = nlohmann::json::parse(read_text(out));
  CHECK(j["results"]["tiny_mc"]["acc,none"].get<double>() >= 0.0);
  CHECK(j["results"]["tiny_mc"].contains("acc_norm_stderr,none"));
  CHECK(j["results"]["tiny_ll"].contains("perplexity,none"));
  CHECK(j["results"]["tiny_gen"].contains("exact_match,strict"));
  CHECK(j["n-shot"]["tiny_mc"] == 1);
  CHECK(j["n-samples"]["tiny_mc"]["effective"] == 5);
  CHECK(j["n-samples"]["tiny_mc"]["original"] == 6);
  CHECK(j["versions"]["tiny_mc"] == 2.0);
  CHECK(j["configs"]["tiny_mc"]["output_type"] == "multiple_choice");
  CHECK(j["config"]["model"].get<std::string>().find("step-0000010") != std::string::npos);
  CHECK(j["config"]["model_num_parameters"].get<int64_t>() > 0);
  CHECK(j["config"]["limit"] == 5);
  CHECK(j.contains("git_hash"));
  CHECK(j["date"].get<double>() > 1.7e9);
  // block_size 32: one-shot prompts of this task do not all fit
  CHECK(j["left_truncated"]["tiny_mc"].get<int64_t>() >= 0);

  // Zero shots, by name through --task and a task directory config; default output path.
  auto cfg = dir + "/eval.yaml";
  std::ofstream(cfg) << "model: " << dir << "\ntasks: [tiny_mc]\ntask_dir: "
                     << source_dir() << "/tests/assets/tasks\nnum_fewshot: 0\nthreads: 1\n";
  auto r0 = run_strata({"eval", cfg});
  INFO(r0.output);
  REQUIRE(r0.status == 0);
  REQUIRE(fs::is_directory(dir + "/eval"));
  auto file = fs::directory_iterator(dir + "/eval")->path().string();
  CHECK(nlohmann::json::parse(read_text(file))["n-shot"]["tiny_mc"] == 0);

  // Bad input: one line, exit 2.
  auto bad = run_strata({"eval", "--model", dir, "--task", "no_such_task"});
  CHECK(bad.status == 2);
  CHECK(bad.output.find("no_such_task") != std::string::npos);
  auto no_model = run_strata({"eval", "--model", dir + "/nothing", "--task",
                              "tests/assets/tasks/tiny_mc.yaml"});
  CHECK(no_model.status == 2);

  // Every task is checked before any is scored: a second task whose template names a key
  // its documents lack stops the run before the first one runs, and no results file is
  // written (it once scored tiny_mc, then refused tiny_bad, and wrote nothing).
  const std::string bad_task = dir + "/tiny_bad.yaml";
  std::ofstream(bad_task) << "task: tiny_bad\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    train: "
                          << source_dir() << "/tests/assets/tasks/tiny_train.jsonl\n    test: " << source_dir()
                          << "/tests/assets/tasks/tiny.jsonl\ntraining_split: train\ntest_split: test\n"
                          << "doc_to_text: \"{{text}} {{missing_key}}\"\ndoc_to_target: answer\n"
                          << "output_type: generate_until\n";
  auto partial = run_strata({"eval", "--model", dir, "--task", "tests/assets/tasks/tiny_mc.yaml", "--task",
                             bad_task, "--out", dir + "/partial.json", "--threads", "1"});
  INFO(partial.output);
  CHECK(partial.status == 2);
  CHECK(partial.output.find("missing_key") != std::string::npos);
  CHECK(partial.output.find("document 0") != std::string::npos);
  CHECK(partial.output.find("eval: tiny_mc") == std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/partial.json"));
  fs::remove_all(dir);
}
