// `strata tasks export`: a built-in dataset's documents as JSON Lines and a task file that
// reads them, giving the same documents and prompts as the original task.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "tasks/task.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace strata::testing;

TEST_CASE("tasks export: a built-in dataset's task as JSON Lines reads back with the same "
          "documents and prompts",
          "[cli][tasks]") {
  TempDir dir("tasks-export");
  const std::string out = dir.file("copy");
  auto r = run_strata({"tasks", "export", "copy_words", "--out", out});
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* f : {"copy_words.yaml", "copy_words_train.jsonl", "copy_words_validation.jsonl",
                        "copy_words_test.jsonl"}) {
    CHECK(fs::exists(out + "/" + f));
  }
  const auto original = strata::tasks::Task::load(source_dir() + "/configs/tasks/copy_words.yaml");
  const auto exported = strata::tasks::Task::load(out + "/copy_words.yaml");
  CHECK(exported.config().dataset_path == "json");
  REQUIRE(exported.eval_docs().size() == original.eval_docs().size());
  for (size_t i = 0; i < 20; ++i) {
    INFO(i);
    CHECK(exported.eval_docs()[i] == original.eval_docs()[i]);
    CHECK(exported.fewshot_context(i, 3, 1234) == original.fewshot_context(i, 3, 1234));
  }
  // Nothing is replaced by accident; a name that is no task is named.
  auto again = run_strata({"tasks", "export", "copy_words", "--out", out});
  CHECK(again.status == 2);
  CHECK(again.output.find("--overwrite") != std::string::npos);
  CHECK(run_strata({"tasks", "export", "copy_words", "--out", out, "--overwrite"}).status == 0);
  // A file in the way is named, even with --overwrite.
  auto file = run_strata({"tasks", "export", "copy_words", "--out", out + "/copy_words.yaml",
                          "--overwrite"});
  CHECK(file.status == 2);
  CHECK(file.output.find("not a directory") != std::string::npos);
  auto unknown = run_strata({"tasks", "export", "no_such_task", "--out", dir.file("x")});
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("no_such_task") != std::string::npos);
}
