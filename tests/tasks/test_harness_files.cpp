// The harness's own task files, from the lm_eval package that scripts/bootstrap.sh installs
// in .venv, with only their dataset path changed to a few local documents: Strata reads
// them (their plain keys read, or named in a note), and refuses by name what it does not
// run (group files, Python shots).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "core/errors.h"
#include "tasks/evaluate.h"
#include "tasks/task.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

// .venv/lib/python3.*/site-packages/lm_eval/tasks
fs::path harness_tasks() {
  for (const auto& e : fs::directory_iterator(STRATA_SOURCE_DIR "/.venv/lib")) {
    const fs::path p = e.path() / "site-packages" / "lm_eval" / "tasks";
    if (fs::exists(p)) return p;
  }
  FAIL("lm_eval is not installed in .venv (scripts/bootstrap.sh)");
  return {};
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The harness file with its `dataset_path: <hub name>` line replaced by local JSON Lines.
std::string with_local_data(const fs::path& file, const std::string& files) {
  const std::string text = text_of(file);
  const std::string out = std::regex_replace(
      text, std::regex("dataset_path: [^\\n]+"),
      "dataset_path: json\ndataset_kwargs:\n  data_files: " + files);
  REQUIRE(out != text);
  return out;
}

tasks::EvalOptions options() {
  tasks::EvalOptions o;
  o.num_fewshot = 0;
  return o;
}

}  // namespace

TEST_CASE("the harness's arc_easy.yaml and piqa.yaml run with only their path changed",
          "[tasks][harness_files]") {
  testing::TempDir dir("harness-files");
  dir.write("arc.jsonl",
            R"({"id": "a1", "question": "Which is a liquid?", "choices": {"text": ["water", "iron", "salt"], "label": ["A", "B", "C"]}, "answerKey": "A"}
{"id": "a2", "question": "Which planet is closest to the Sun?", "choices": {"text": ["Mars", "Mercury"], "label": ["1", "2"]}, "answerKey": "2"}
)");
  dir.write("piqa.jsonl", R"({"goal": "To open a jar,", "sol1": "twist the lid.", "sol2": "bake it.", "label": 0}
{"goal": "To dry wet hands,", "sol1": "wave them in water.", "sol2": "use a towel.", "label": 1}
)");
  // arc_easy: dataset_name (a hub configuration), should_decontaminate and
  // doc_to_decontamination_query are read; doc_to_target calls .index() on a list.
  const std::string arc = dir.write(
      "arc_easy.yaml",
      with_local_data(harness_tasks() / "arc" / "arc_easy.yaml",
                      "{train: arc.jsonl, validation: arc.jsonl, test: arc.jsonl}"));
  auto task = tasks::Task::load(arc);
  auto r = tasks::build_requests(task, options());
  REQUIRE(r.prompts.size() == 2);
  CHECK(r.prompts[0] == "Question: Which is a liquid?\nAnswer:");
  CHECK(r.choices[1] == std::vector<std::string>{"Mars", "Mercury"});
  CHECK(r.gold == std::vector<int64_t>{0, 1});

  // piqa: doc_to_choice builds a list from two fields; test_split null, so validation.
  const std::string piqa = dir.write(
      "piqa.yaml", with_local_data(harness_tasks() / "piqa" / "piqa.yaml",
                                   "{train: piqa.jsonl, validation: piqa.jsonl}"));
  auto p = tasks::build_requests(tasks::Task::load(piqa), options());
  REQUIRE(p.prompts.size() == 2);
  CHECK(p.choices[1] == std::vector<std::string>{"wave them in water.", "use a towel."});
  CHECK(p.gold == std::vector<int64_t>{0, 1});
}

TEST_CASE("harness files Strata does not run are refused by name", "[tasks][harness_files]") {
  testing::TempDir dir("harness-refused");
  dir.write("d.jsonl", "{\"q\": \"x\", \"a\": \"y\"}\n");
  auto error = [&](const std::string& yaml) {
    try {
      tasks::Task::load(dir.write("t.yaml", yaml));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A group file: a list of tasks with an aggregate.
  CHECK_THAT(error("group: mmlu_mini\ntask: [arc_easy, piqa]\naggregate_metric_list:\n"
                   "  - {metric: acc, weight_by_size: true}\n"),
             Catch::Contains("group file") && Catch::Contains("--task"));
  const std::string base =
      "task: t\ndataset_path: json\ndataset_kwargs: {data_files: {test: d.jsonl, train: d.jsonl}}\n"
      "test_split: test\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\noutput_type: generate_until\n";
  CHECK_THAT(error(base + "fewshot_config:\n  sampler: first_n\n  samples: !function utils.shots\n"),
             Catch::Contains("fewshot_config.samples") && Catch::Contains("Python"));
  CHECK_THAT(error(base + "fewshot_config:\n  samples: [{q: a, a: b}]\n"),
             Catch::Contains("fewshot_split"));
  CHECK_THAT(error(base + "repeats: 5\n"), Catch::Contains("repeats"));
  // Plain harness keys are read.
  CHECK(error(base + "group: old_style_tag\nshould_decontaminate: true\ntask_alias: T\n") == "no error");
}
