// Stages 1 and 2 on text: the shipped spam rules and a TF-IDF + logistic regression run on
// the spam_assassin messages, end to end through `strata train`'s entry point, each scored
// against the majority-class rate of the same test messages.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/data/spam_assassin.h"
#include "core/errors.h"
#include "experiments/train.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

// The share of the test set's larger class: what always answering it scores.
double majority_rate() {
  static const double rate = [] {
    auto test = data::load_spam_assassin("test", STRATA_SOURCE_DIR "/data/node_modules");
    const double spam = test.labels.sum().item<double>() / double(test.size());
    return std::max(spam, 1.0 - spam);
  }();
  return rate;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("the shipped spam rules beat the majority class", "[experiments][spam]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_spam_rules";
  fs::remove_all(out);
  auto doc = config::Document::load(STRATA_SOURCE_DIR "/configs/rules/spam.yaml",
                                    {"out_dir=" + out.string(), "threads=1"});
  auto results = experiments::train_document(doc);

  REQUIRE(results["results"].contains("eval/spam_assassin/acc"));
  const double acc = results["results"]["eval/spam_assassin/acc"].get<double>();
  CHECK(majority_rate() == Approx(817.0 / 1222.0));
  // Rules a person wrote, no learner: well above always saying "ham" (0.669).
  CHECK(acc > majority_rate() + 0.15);
  CHECK(results["test"]["n"] == 1222);
  CHECK(results["test"]["per_class"]["spam"].get<double>() > 0.5);
  CHECK(results["dataset"] == "spam_assassin");
  CHECK(results["classes"] == nlohmann::json({"ham", "spam"}));
  CHECK(results["labelled_examples"] == 0);
  CHECK(results["who_decides"] == "a person");
  CHECK(read_json(out / "results.json") == results);
}

TEST_CASE("TF-IDF and logistic regression learn spam from labelled messages",
          "[experiments][spam]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_spam_tfidf";
  fs::remove_all(out);
  auto doc =
      config::Document::load(STRATA_SOURCE_DIR "/configs/classic/spam-tfidf.yaml",
                             {"out_dir=" + out.string(), "threads=1", "data.labels_per_class=500",
                              "data.validation=200", "model.features.max_features=3000"});
  auto results = experiments::train_document(doc);

  const double acc = results["results"]["eval/spam_assassin/acc"].get<double>();
  CHECK(acc > majority_rate() + 0.2);
  CHECK(results["train_examples"] == 800);
  CHECK(results["validation"]["acc"].get<double>() > majority_rate());
  CHECK(results["features"]["type"] == "tfidf");
  CHECK(results["features"]["dim"] == 3000);
  CHECK(results["learner"]["type"] == "logistic_regression");
  CHECK(results["test"]["n"] == 1222);
  const fs::path ckpt = out / "checkpoints" / "step-0000001";
  CHECK(fs::exists(ckpt / "model.liblinear"));
  // The vocabulary (learnt from training messages only) is saved with the model.
  CHECK(read_json(ckpt / "state.json")["features"]["state"]["vocabulary"].size() == 3000);
}

TEST_CASE("text runs refuse image-only options and image features", "[experiments][spam]") {
  const fs::path out = fs::temp_directory_path() / "strata_test_spam_bad";
  fs::remove_all(out);
  const std::string head = "out_dir: " + out.string() + "\noverwrite: true\n";
  auto run = [&](const std::string& yaml) {
    return experiments::train_document(config::Document::parse(head + yaml, "run.yaml"));
  };
  CHECK_THROWS_WITH(run("data: {dataset: spam_assassin, classes: [spam]}\n"
                        "model: {type: classic, features: {type: tfidf}, "
                        "learner: {type: logistic_regression}}\n"),
                    Catch::Contains("data.classes") && Catch::Contains("spam_assassin"));
  CHECK_THROWS_AS(run("data: {dataset: spam_assassin, labels_per_class: 20, validation: 0, "
                      "test_per_class: 10}\n"
                      "model: {type: classic, features: {type: hog}, "
                      "learner: {type: logistic_regression}}\n"),
                  InputError);
}
