#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/errors.h"
#include "experiments/datasize.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("datasize trains each stage on growing subsets and writes the curve",
          "[experiments][datasize]") {
  const fs::path dir = fs::temp_directory_path() / "strata_test_datasize";
  fs::remove_all(dir);
  const std::string data = "data: {dataset: fashion_mnist, validation: 0, test_per_class: 20}\n";
  write(dir / "tree.yaml", "out_dir: unused\n" + data +
                               "model: {type: classic, features: {type: pixels}, "
                               "learner: {type: decision_tree, max_depth: 2}}\n");
  write(dir / "logreg.yaml", "out_dir: unused\n" + data +
                                 "model: {type: classic, features: {type: hog, pixels_per_cell: 4, "
                                 "cells_per_block: 2}, learner: {type: logistic_regression}}\n");
  const std::string yaml = "out_dir: " + (dir / "out").string() +
                           "\nsizes: [50, 200]\nplot: false\nstages:\n"
                           "  - {name: 'stump tree', config: tree.yaml}\n"
                           "  - {name: 'HOG + logistic', config: logreg.yaml}\n";
  write(dir / "datasize.yaml", yaml);

  auto summary = experiments::datasize(config::Document::load((dir / "datasize.yaml").string()));
  REQUIRE(summary["rows"].size() == 4);
  CHECK(summary["rows"][0]["stage"] == "stump tree");
  CHECK(summary["rows"][3]["train_examples"] == 200);
  for (const auto& row : summary["rows"]) {
    CHECK(row["test_acc"].get<double>() > 0.1);
    CHECK(fs::exists(fs::path(row["run_dir"].get<std::string>()) / "results.json"));
  }
  CHECK(fs::exists(dir / "out" / "hog-logistic" / "200" / "checkpoints" / "latest"));
  CHECK(summary["crossing"].get<std::string>().find("HOG + logistic") != std::string::npos);
  std::ifstream csv(dir / "out" / "datasize.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "stage,train_examples,test_acc,test_acc_stderr,seconds,run_dir");

  // Finished runs are not run again: the curve continues where it stopped.
  fs::remove_all(dir / "out" / "stump-tree" / "200");
  auto again = experiments::datasize(config::Document::load((dir / "datasize.yaml").string()));
  CHECK(again["rows"][1]["test_acc"] == summary["rows"][1]["test_acc"]);
  CHECK(again["rows"][3]["seconds"] == summary["rows"][3]["seconds"]);
}

TEST_CASE("datasize refuses sizes that cannot be stratified and missing stage configs",
          "[experiments][datasize]") {
  auto error = [](const std::string& yaml) {
    try {
      experiments::datasize(config::Document::parse(yaml, "datasize.yaml"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error("sizes: [105]\nstages: [{name: a, config: /dev/null}]\n"),
             Catch::Contains("datasize.yaml:1") && Catch::Contains("multiple of num_classes"));
  CHECK_THAT(error("sizes: [100]\nstages: [{name: a, config: /nonexistent.yaml}]\n"),
             Catch::Contains("'/nonexistent.yaml' not found"));
  CHECK_THAT(error("sizes: [100]\nstages: []\n"), Catch::Contains("at least one stage"));
}
