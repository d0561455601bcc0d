// lm-evaluation-harness itself as the judge of `strata eval`: a GPT pre-trained and exported
// with `strata export --format hf` (tokenizer.json included) runs under `lm_eval --model hf`
// on task files with json data, and the two tools' samples and results files agree
// (tests/tasks/harness_check.py). Multiple choice with first_n shots (addition) and with
// the default sampler (the harness's random.Random(1234) draws, made by Strata's
// tasks/python_random.h: tiny_mc at 1 shot, and at 5 shots tiny_mc5 and addition_default5,
// whose acc must be equal), loglikelihood and generate_until (tiny_ll, tiny_gen).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/python.h"
#include "tasks/eval_run.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace strata::testing;

TEST_CASE("harness: lm_eval on Strata's export and strata eval agree document by document",
          "[tasks][harness][transformers]") {
  TempDir dir("harness");
  auto run = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir.file("run"),
                         "trainer.max_steps=20", "trainer.eval_every=20"});
  INFO(run.output);
  REQUIRE(run.status == 0);
  auto hf = run_strata({"export", dir.file("run"), "--format", "hf", "--out", dir.file("hf")});
  INFO(hf.output);
  REQUIRE(hf.status == 0);

  // One task directory for both tools: relative data_files resolve against the YAML file
  // in Strata and against the working directory in the harness, which is this directory.
  const std::string tasks = dir.file("tasks");
  fs::create_directories(tasks + "/data");
  const std::string src = source_dir();
  fs::copy_file(src + "/configs/tasks/addition.yaml", tasks + "/addition.yaml");
  for (const char* f : {"addition_train.jsonl", "addition_test.jsonl"}) {
    fs::copy_file(src + "/configs/tasks/data/" + f, tasks + "/data/" + f);
  }
  for (const char* f : {"tiny_base.yaml", "tiny_ll.yaml", "tiny_gen.yaml", "tiny_mc.yaml", "tiny_mc5.yaml",
                        "addition_default5.yaml", "tiny.jsonl", "tiny_train.jsonl", "tiny_train6.jsonl"}) {
    fs::copy_file(src + "/tests/assets/tasks/" + f, tasks + "/" + f);
  }
  auto eval = run_strata({"eval", "--model", dir.file("hf"), "--task", tasks + "/addition.yaml",
                          "--task", tasks + "/tiny_ll.yaml", "--task", tasks + "/tiny_gen.yaml",
                          "--task", tasks + "/tiny_mc.yaml", "--task", tasks + "/tiny_mc5.yaml",
                          "--task", tasks + "/addition_default5.yaml",
                          "--limit", "40", "--batch-size", "8", "--threads", "1", "--out",
                          dir.file("strata/results.json"), "--log-samples"});
  INFO(eval.output);
  REQUIRE(eval.status == 0);
  for (const char* task : {"addition", "tiny_ll", "tiny_gen", "tiny_mc", "tiny_mc5", "addition_default5"}) {
    bool found = false;
    for (const auto& e : fs::directory_iterator(dir.file("strata"))) {
      found = found || e.path().filename().string().rfind(std::string("samples_") + task + "_", 0) == 0;
    }
    CHECK(found);
  }

  // lm_eval on the same first 40 documents of each task.
  const std::string cmd = strata::python_program() + " " + src + "/tests/tasks/harness_check.py" +
                          " --hf " + dir.file("hf") + " --task-dir " + tasks + " --lm-out " +
                          dir.file("lm_eval") + " --strata-out " + dir.file("strata") +
                          " --limit 40 addition tiny_ll tiny_gen tiny_mc tiny_mc5 addition_default5 > " +
                          dir.file("check.log") +
                          " 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO(read_text(dir.file("check.log")));
  CHECK(rc == 0);

  // The harness's results file, read by Strata's reader, gives the rows of Strata's own.
  std::string theirs_path;
  for (const auto& e : fs::recursive_directory_iterator(dir.file("lm_eval"))) {
    if (e.path().filename().string().rfind("results_", 0) == 0) theirs_path = e.path().string();
  }
  REQUIRE(!theirs_path.empty());
  const auto theirs = strata::tasks::read_results(
      nlohmann::json::parse(read_text(theirs_path)), theirs_path);
  const auto ours = strata::tasks::read_results(
      nlohmann::json::parse(read_text(dir.file("strata/results.json"))), "results.json");
  CHECK(theirs.size() == ours.size());
  for (const auto& t : theirs) {
    INFO(t.task << " " << t.metric << "," << t.filter);
    bool matched = false;
    for (const auto& o : ours) {
      if (o.task == t.task && o.metric == t.metric && o.filter == t.filter) {
        matched = true;
        CHECK(std::abs(o.value - t.value) <= 1e-4 * std::max(1.0, std::abs(t.value)));
      }
    }
    CHECK(matched);
  }
}
