// Task YAML (include, strict keys, refused Python keys), documents and few-shot prompts.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tasks/task.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using namespace strata::tasks;
using json = nlohmann::json;
using strata::InputError;
using strata::testing::TempDir;

namespace {

std::string asset(const std::string& name) {
  return strata::testing::source_dir() + "/tests/assets/tasks/" + name;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A task over `n` documents {"q": "question i", "a": "answer i"} in one split.
Task numbered_task(size_t n, const std::string& sampler, bool same_split) {
  TaskConfig c;
  c.task = "numbered";
  c.file = "numbered.yaml";
  c.test_split = "test";
  c.training_split = same_split ? "" : "train";
  c.doc_to_text = "Q: {{q}}";
  c.doc_to_target = "{{a}}";
  c.sampler = sampler;
  c.description = "Answer.\n\n";
  Task t(c);
  std::vector<json> docs, train;
  for (size_t i = 0; i < n; ++i) {
    docs.push_back({{"q", "question " + std::to_string(i)}, {"a", "answer " + std::to_string(i)}});
    train.push_back({{"q", "shot " + std::to_string(i)}, {"a", "reply " + std::to_string(i)}});
  }
  t.set_split("test", docs);
  if (!same_split) t.set_split("train", train);
  return t;
}

}  // namespace

TEST_CASE("task yaml: include, defaults and resolved paths", "[tasks]") {
  auto c = load_task_config(asset("tiny_mc.yaml"));
  CHECK(c.task == "tiny_mc");
  CHECK(c.output_type == OutputType::kMultipleChoice);
  CHECK(c.doc_to_text == "{{text}}");  // from the included base
  CHECK(c.doc_to_target == "label");   // overridden
  CHECK(c.target_delimiter == " ");
  CHECK(c.fewshot_delimiter == "\n\n");
  CHECK(c.version == 2.0);
  CHECK(c.data_files.at("test") == asset("tiny.jsonl"));
  REQUIRE(c.metrics.size() == 2);  // the harness's multiple_choice defaults
  CHECK(c.metrics[0].metric == "acc");
  CHECK(c.metrics[1].metric == "acc_norm");
  auto g = load_task_config(asset("tiny_gen.yaml"));
  CHECK(g.generation.until == std::vector<std::string>{"\n", "."});
  CHECK(g.filters.at(0).name == "strict");
  auto ll = load_task_config(asset("tiny_ll.yaml"));
  CHECK(ll.metrics.at(0).metric == "perplexity");

  auto t = Task::load(asset("tiny_mc.yaml"));
  CHECK(t.eval_docs().size() == 6);
  CHECK(t.fewshot_docs().size() == 3);
  CHECK(t.doc_to_choice(t.eval_docs()[1], "d") == std::vector<std::string>{"apples", "States", "clouds"});
  CHECK(t.doc_to_target(t.eval_docs()[1], "d").index == 1);
  CHECK(t.target_text(t.eval_docs()[1], "d") == "States");
}

TEST_CASE("task yaml: Python keys, unknown keys and bad values are refused", "[tasks]") {
  TempDir dir("tasks-yaml");
  dir.write("data.jsonl", "{\"q\": \"x\", \"a\": \"y\"}\n");
  const std::string head = "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: data.jsonl\n"
                           "test_split: train\ndoc_to_text: q\ndoc_to_target: a\n";
  auto fn = dir.write("fn.yaml", head + "process_docs: !function utils.process\n");
  auto msg = error_of([&] { load_task_config(fn); });
  CHECK(msg.find("process_docs") != std::string::npos);
  auto fn2 = dir.write("fn2.yaml", head + "doc_to_choice: !function utils.choices\n");
  msg = error_of([&] { load_task_config(fn2); });
  CHECK(msg.find("!function") != std::string::npos);
  CHECK(msg.find("fn2.yaml:8") != std::string::npos);
  auto pr = dir.write("pr.yaml", head + "process_results: x\n");
  CHECK(error_of([&] { load_task_config(pr); }).find("process_results") != std::string::npos);
  auto typo = dir.write("typo.yaml", head + "num_fewshots: 2\n");
  msg = error_of([&] { load_task_config(typo); });
  CHECK(msg.find("typo.yaml:8") != std::string::npos);
  CHECK(msg.find("did you mean 'num_fewshot'") != std::string::npos);
  auto bad = dir.write("bad.yaml", head + "output_type: multiple_choise\n");
  CHECK(error_of([&] { load_task_config(bad); }).find("multiple_choice") != std::string::npos);
  auto ok = dir.write("ok.yaml", head);
  auto t = Task::load(ok);  // a lone data file is the split "train"
  CHECK(t.eval_docs().size() == 1);
  CHECK(t.doc_to_text(t.eval_docs()[0], "d") == "x");  // a field name, not a template
}

TEST_CASE("task: a template naming a missing field names it, the file and the document", "[tasks]") {
  TaskConfig c;
  c.task = "t";
  c.file = "my_task.yaml";
  c.test_split = "test";
  c.doc_to_text = "Q: {{questoin}}";
  c.doc_to_target = "{{a}}";
  Task t(c);
  t.set_split("test", {json{{"question", "a"}, {"a", "b"}}, json{{"question", "c"}, {"a", "d"}},
                       json{{"question", "e"}, {"a", "f"}}});
  auto msg = error_of([&] { t.fewshot_context(2, 0, 1); });
  CHECK(msg.find("questoin") != std::string::npos);
  CHECK(msg.find("my_task.yaml") != std::string::npos);
  CHECK(msg.find("document 2") != std::string::npos);
}

TEST_CASE("prompts: zero-, one- and few-shot, and the Input/Output form", "[tasks]") {
  PromptFormat f{"Describe.\n\n", " ", "\n\n"};
  CHECK(build_prompt(f, {}, "Q: x") == "Describe.\n\nQ: x");
  CHECK(build_prompt(f, {{"Q: a", "b"}}, "Q: x") == "Describe.\n\nQ: a b\n\nQ: x");
  CHECK(build_prompt(f, {{"Q: a", "b"}, {"Q: c", "d"}}, "Q: x") ==
        "Describe.\n\nQ: a b\n\nQ: c d\n\nQ: x");
  auto io = input_output_shot("cat dog", "cat dog");
  CHECK(build_prompt({"", " ", "\n"}, {io}, input_output_shot("x").input) ==
        "Input: cat dog\nOutput: cat dog\nInput: x\nOutput:");

  auto t = numbered_task(5, "first_n", false);
  CHECK(t.fewshot_context(3, 2, 0) ==
        "Answer.\n\nQ: shot 0 reply 0\n\nQ: shot 1 reply 1\n\nQ: question 3");
}

TEST_CASE("few-shot sampling: seeded, and never the document itself", "[tasks]") {
  auto t = numbered_task(12, "default", true);
  std::set<std::vector<size_t>> distinct;
  for (size_t d = 0; d < 12; ++d) {
    auto a = t.fewshot_indices(d, 4, 7);
    CHECK(a == t.fewshot_indices(d, 4, 7));  // same seed, same shots
    CHECK(std::set<size_t>(a.begin(), a.end()).size() == 4);
    CHECK(std::find(a.begin(), a.end(), d) == a.end());
    distinct.insert(a);
    // Every other document as a shot: still never itself.
    auto all = t.fewshot_indices(d, 11, 7);
    CHECK(std::find(all.begin(), all.end(), d) == all.end());
    CHECK(t.fewshot_context(d, 4, 7) == t.fewshot_context(d, 4, 7));
    CHECK(t.fewshot_context(d, 4, 7).find("question " + std::to_string(d) + " answer") ==
          std::string::npos);
  }
  CHECK(distinct.size() > 6);  // random per document, not one fixed set
  bool differs = false;
  for (size_t d = 0; d < 12; ++d) differs = differs || t.fewshot_indices(d, 4, 7) != t.fewshot_indices(d, 4, 8);
  CHECK(differs);
  CHECK_THROWS_AS(t.fewshot_indices(0, 12, 7), InputError);  // only 11 others

  auto first = numbered_task(6, "first_n", true);
  CHECK(first.fewshot_indices(0, 2, 1) == std::vector<size_t>{1, 2});
  CHECK(first.fewshot_indices(4, 2, 1) == std::vector<size_t>{0, 1});
}

TEST_CASE("documents: JSON Lines and CSV", "[tasks]") {
  TempDir dir("tasks-docs");
  auto csv = dir.write("d.csv", "q,a\n\"x, y\",\"say \"\"hi\"\"\"\nplain,\"two\nlines\"\n");
  auto docs = read_documents("csv", csv);
  REQUIRE(docs.size() == 2);
  CHECK(docs[0]["q"] == "x, y");
  CHECK(docs[0]["a"] == "say \"hi\"");
  CHECK(docs[1]["a"] == "two\nlines");
  auto bad = dir.write("d.jsonl", "{\"a\": 1}\n{oops\n");
  auto msg = error_of([&] { read_documents("json", bad); });
  CHECK(msg.find("d.jsonl:2") != std::string::npos);
}

TEST_CASE("task lookup by name", "[tasks]") {
  CHECK(std::filesystem::equivalent(find_task_file("tiny_mc", asset("")), asset("tiny_mc.yaml")));
  auto msg = error_of([&] { find_task_file("tiny_nc", asset("")); });
  CHECK(msg.find("did you mean 'tiny_mc'") != std::string::npos);
}

TEST_CASE("task yaml: every task in configs/tasks loads and renders with 0 and 3 shots",
          "[tasks][builtin]") {
  const std::string dir = strata::testing::source_dir() + "/configs/tasks";
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 16);
  std::set<std::string> names;
  for (const auto& file : files) {
    INFO(file);
    auto t = Task::load(file);
    CHECK(names.insert(t.name()).second);
    CHECK(t.config().version > 0.0);
    CHECK(std::filesystem::equivalent(find_task_file(t.name(), dir), file));
    const auto& doc = t.eval_docs().at(0);
    const std::string query = t.doc_to_text(doc, "document 0");
    CHECK(!query.empty());
    CHECK(!t.target_text(doc, "document 0").empty());
    const std::string zero = t.fewshot_context(0, 0, 1234);
    const std::string three = t.fewshot_context(0, 3, 1234);
    CHECK(zero == t.config().description + query);
    CHECK(three.size() > zero.size());
    CHECK(three.compare(three.size() - query.size(), query.size(), query) == 0);
    CHECK(t.fewshot_context(0, 3, 1234) == three);
    const std::string& dataset = t.config().dataset_path;
    if (dataset != "json" && dataset != "csv" && dataset != "lambada_cloze" &&
        dataset != "spam_assassin") {
      CHECK(int64_t(t.eval_docs().size()) == t.config().dataset.n_test);  // generated: exact
    }
  }
  for (const char* name : {"arithmetic_2da", "arithmetic_2ds", "arithmetic_3da", "arithmetic_3ds",
                           "arithmetic_2dm", "cycle_letters", "anagrams1", "anagrams2",
                           "random_insertion", "reversed_words", "copy_words", "kv_lookup",
                           "pattern_completion", "lambada_cloze", "spam"}) {
    CHECK(names.count(name) == 1);
  }
}

TEST_CASE("task yaml: built-in datasets, their sub-tasks and options", "[tasks][builtin]") {
  TempDir dir("tasks-builtin");
  const std::string tail = "test_split: test\ndoc_to_text: \"{{context}}\"\n"
                           "doc_to_target: \"{{completion}}\"\noutput_type: loglikelihood\n";
  auto base = dir.write("base.yaml", "task: sums\ndataset_path: gpt3_arithmetic\n"
                                     "dataset_name: 2da\ntraining_split: train\n"
                                     "dataset_kwargs: {n_train: 30, n_validation: 0, n_test: 12}\n" +
                                         tail);
  auto t = Task::load(base);
  CHECK(t.eval_docs().size() == 12);
  CHECK(t.fewshot_docs().size() == 30);
  CHECK(t.doc_to_text(t.eval_docs()[0], "d").rfind("Question: What is ", 0) == 0);
  auto j = t.config().to_json();
  CHECK(j["dataset_path"] == "gpt3_arithmetic");
  CHECK(j["dataset_name"] == "2da");
  CHECK(j["dataset_kwargs"]["n_test"] == 12);
  CHECK(j["dataset_kwargs"]["seed"] == 1234);
  CHECK(!j["dataset_kwargs"].contains("data_files"));

  // An including file keeps the base's options and overrides the ones it names.
  auto child = dir.write("child.yaml", "include: base.yaml\ntask: products\ndataset_name: 2dm\n"
                                       "dataset_kwargs: {seed: 7}\n");
  auto c = Task::load(child);
  CHECK(c.config().dataset.dataset_name == "2dm");
  CHECK(c.config().dataset.seed == 7);
  CHECK(c.eval_docs().size() == 12);
  CHECK(c.eval_docs()[0]["op"] == "times");

  auto typo = dir.write("typo.yaml", "task: t\ndataset_path: gpt3_arithmetc\ndataset_name: 2da\n" + tail);
  auto msg = error_of([&] { load_task_config(typo); });
  CHECK(msg.find("typo.yaml:2") != std::string::npos);
  CHECK(msg.find("did you mean 'gpt3_arithmetic'") != std::string::npos);

  auto no_name = dir.write("no_name.yaml", "task: t\ndataset_path: gpt3_wordscramble\n" + tail);
  msg = error_of([&] { load_task_config(no_name); });
  CHECK(msg.find("needs 'dataset_name'") != std::string::npos);
  CHECK(msg.find("cycle_letters, anagrams1, anagrams2, random_insertion, reversed_words") !=
        std::string::npos);

  auto bad_name = dir.write("bad_name.yaml", "task: t\ndataset_path: gpt3_arithmetic\n"
                                             "dataset_name: 4da\n" + tail);
  msg = error_of([&] { load_task_config(bad_name); });
  CHECK(msg.find("bad_name.yaml:3") != std::string::npos);
  CHECK(msg.find("2da, 2ds, 3da, 3ds, 2dm") != std::string::npos);

  auto stray = dir.write("stray.yaml", "task: t\ndataset_path: copy_words\ndataset_name: x\n" + tail);
  CHECK(error_of([&] { load_task_config(stray); }).find("no sub-tasks") != std::string::npos);

  auto files = dir.write("files.yaml", "task: t\ndataset_path: copy_words\n"
                                       "dataset_kwargs: {data_files: x.jsonl}\n" + tail);
  CHECK(error_of([&] { load_task_config(files); }).find("data_files") != std::string::npos);

  auto kwarg = dir.write("kwarg.yaml", "task: t\ndataset_path: kv_lookup\n"
                                       "dataset_kwargs: {n_tset: 5}\n" + tail);
  CHECK(error_of([&] { load_task_config(kwarg); }).find("did you mean 'n_test'") !=
        std::string::npos);

  auto range = dir.write("range.yaml", "task: t\ndataset_path: copy_words\n"
                                       "dataset_kwargs: {min_letters: 6, max_letters: 4}\n" + tail);
  CHECK(error_of([&] { load_task_config(range); }).find("max_letters") != std::string::npos);

  auto split = dir.write("split.yaml", "task: t\ndataset_path: lambada_cloze\n"
                                       "training_split: train\ntest_split: test\n"
                                       "doc_to_text: text\ndoc_to_target: target\n");
  msg = error_of([&] { Task::load(split); });
  CHECK(msg.find("no split 'train'") != std::string::npos);
  CHECK(msg.find("validation, test") != std::string::npos);

  auto words = dir.write("words.yaml", "task: t\ndataset_path: copy_words\n"
                                       "dataset_kwargs: {words_file: no_such_words}\n"
                                       "test_split: test\ndoc_to_text: input\n"
                                       "doc_to_target: output\n");
  msg = error_of([&] { Task::load(words); });
  CHECK(msg.find("words.yaml") != std::string::npos);
  CHECK(msg.find(dir.file("no_such_words")) != std::string::npos);  // relative to the file
  CHECK(msg.find("wamerican") != std::string::npos);
}
