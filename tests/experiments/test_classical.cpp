#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/run.h"
#include "experiments/classical.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

nlohmann::json run_config(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  auto doc = config::Document::parse(yaml, "run.yaml", overrides);
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  prepare_run_dir(run);
  return experiments::train_classical(doc, root, run);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

const std::string kSmallData =
    "data: {dataset: fashion_mnist, labels_per_class: 60, validation: 100, test_per_class: 30}\n";

}  // namespace

TEST_CASE("classical model types are recognised", "[experiments][classical]") {
  CHECK(experiments::is_classical("rules"));
  CHECK(experiments::is_classical("classic"));
  CHECK(experiments::is_classical("select"));
  CHECK(!experiments::is_classical("cnn"));
}

TEST_CASE("a classic run writes the run directory and resumes from its checkpoint",
          "[experiments][classical]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_classic_run";
  fs::remove_all(out);
  const std::string yaml = "out_dir: " + out.string() + "\nseed: 1\n" + kSmallData +
                           "model:\n  type: classic\n  features: {type: pixels}\n"
                           "  learner: {type: decision_tree, max_depth: 10}\n";
  auto results = run_config(yaml);
  CHECK(results["test"]["acc"].get<double>() > 0.5);
  CHECK(results["test"]["n"] == 300);
  CHECK(results["train_examples"] == 500);
  CHECK(results["learner"]["type"] == "decision_tree");
  for (const char* f : {"config.yaml", "metrics.jsonl", "results.json", "checkpoints/latest"}) {
    CHECK(fs::exists(out / f));
  }
  const fs::path ckpt = out / "checkpoints" / "step-0000001";
  CHECK(fs::exists(ckpt / "model.json"));
  CHECK(fs::exists(ckpt / "state.json"));
  CHECK(fs::exists(ckpt / "config.yaml"));
  CHECK(read_json(ckpt / "state.json")["learner"]["type"] == "decision_tree");
  CHECK(read_json(out / "results.json") == results);

  // Without resume or overwrite, the run directory is refused.
  CHECK_THROWS_AS(run_config(yaml), InputError);
  // Resumed: the saved model is loaded, not fitted again, and scores the same.
  auto resumed = run_config(yaml, {"resume=true"});
  CHECK(resumed["test"]["acc"] == results["test"]["acc"]);
  CHECK(!resumed.contains("fit_seconds"));
  std::ifstream metrics(out / "metrics.jsonl");
  int rows = 0;
  for (std::string line; std::getline(metrics, line);) rows += !line.empty();
  CHECK(rows == 1);  // the step is written once
}

TEST_CASE("a selection run fits every candidate and records the table", "[experiments][classical]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_select_run";
  fs::remove_all(out);
  auto results = run_config("out_dir: " + out.string() + "\n" + kSmallData +
                            "model:\n  type: select\n  features: {type: hog, pixels_per_cell: 4, cells_per_block: 2}\n"
                            "  candidates:\n    - {type: decision_tree, max_depth: [2, 8]}\n"
                            "    - {type: logistic_regression, C: 1}\n");
  REQUIRE(results["selection"].size() == 3);
  CHECK(results["learner"]["type"] == "logistic_regression");
  CHECK(fs::exists(out / "checkpoints" / "step-0000004" / "model.liblinear"));
}

TEST_CASE("the shipped rules score above chance and refuse bad configs",
          "[experiments][classical][rules]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_rules_run";
  fs::remove_all(out);
  auto doc = config::Document::load(STRATA_SOURCE_DIR "/configs/rules/fashion.yaml",
                                    {"out_dir=" + out.string(), "data.test_per_class=100",
                                     "data.labels_per_class=100", "data.validation=100"});
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  prepare_run_dir(run);
  auto results = experiments::train_classical(doc, root, run);
  CHECK(results["test"]["acc"].get<double>() > 0.45);
  CHECK(results["labelled_examples"] == 0);
  CHECK(results["who_decides"] == "a person");

  CHECK_THROWS_WITH(run_config("out_dir: " + out.string() + "\noverwrite: true\n" + kSmallData +
                               "model:\n  type: rules\n  features: {type: image_measurements}\n"
                               "  rules:\n    - {if: 'aspect > 2 && hieght < 1', then: Trouser}\n"
                               "  default: Bag\n"),
                    Catch::Contains("run.yaml:8: rule 1") && Catch::Contains("unknown feature 'hieght'"));
  CHECK_THROWS_WITH(run_config("out_dir: " + out.string() + "\noverwrite: true\n" + kSmallData +
                               "model:\n  type: classic\n  features: {type: pixels}\n"
                               "  learner: {type: svm_rbf}\n  lerner: 1\n"),
                    Catch::Contains("unknown key 'model.lerner'"));
}

TEST_CASE("every learner refuses a training set of one class", "[experiments][classical][hostile]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_one_class";
  fs::remove_all(out);
  for (const char* learner : {"logistic_regression", "linear_svm", "svm_rbf", "decision_tree",
                              "random_forest", "xgboost"}) {
    INFO(learner);
    const std::string yaml =
        "out_dir: " + out.string() + "\noverwrite: true\n" +
        "data: {dataset: fashion_mnist, classes: [Sandal], labels_per_class: 30, validation: 5, "
        "test_per_class: 5}\n" +
        "model:\n  type: classic\n  features: {type: pixels}\n  learner: {type: " + learner +
        "}\n";
    CHECK_THROWS_WITH(run_config(yaml), Catch::Contains("run.yaml:3") &&
                                            Catch::Contains("hold 1 class ('Sandal')") &&
                                            Catch::Contains("at least two"));
  }
  fs::remove_all(out);
}
