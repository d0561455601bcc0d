#include <catch2/catch.hpp>
#include <libsvm/svm.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/data/fashion_mnist.h"
#include "core/errors.h"
#include "models/classic/hog.h"
#include "models/classic/learner.h"
#include "models/classic/select.h"
#include "models/classic/threads.h"

using namespace strata;
using namespace strata::classic;

namespace {

// A small real slice: HOG features of 1,000 training images (100 per class) and 500 test
// images, loaded once for all learner tests.
struct Slice {
  torch::Tensor x_train, y_train, x_test, y_test;
};

const Slice& slice() {
  static const Slice s = [] {
    auto train = data::stratified_subset(data::load_fashion_mnist("train"), 100, 0);
    auto test = data::stratified_subset(data::load_fashion_mnist("test"), 50, 0);
    HogOptions o;
    o.pixels_per_cell = {4, 4};
    o.cells_per_block = {2, 2};
    return Slice{hog(train.images, o), train.labels, hog(test.images, o), test.labels};
  }();
  return s;
}

std::unique_ptr<Learner> make(const std::string& yaml) {
  auto doc = config::Document::parse(yaml, "learner.yaml");
  return make_learner(doc.root());
}

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "strata_test_learners";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Fits on the slice, checks test accuracy, and checks that the saved model file predicts
// the same after loading into a fresh learner.
double fit_and_round_trip(const std::string& yaml) {
  const auto& s = slice();
  auto learner = make(yaml);
  learner->fit(s.x_train, s.y_train, 10, 0);
  auto predicted = learner->predict(s.x_test);
  REQUIRE(predicted.sizes() == s.y_test.sizes());
  const std::string path = temp_path(learner->type() + ".model." + learner->format());
  learner->save(path);
  auto loaded = make(yaml);
  loaded->load(path);
  CHECK(torch::equal(loaded->predict(s.x_test), predicted));
  return accuracy(predicted, s.y_test);
}

}  // namespace

TEST_CASE("svm_rbf learns the slice and its batched prediction is libsvm's", "[classic][learner]") {
  double acc = fit_and_round_trip("type: svm_rbf\nC: 10\n");
  CHECK(acc > 0.75);
  // libsvm's own per-example prediction, from the saved model file.
  const auto& s = slice();
  svm_model* m = svm_load_model(temp_path("svm_rbf.model.libsvm").c_str());
  REQUIRE(m != nullptr);
  CHECK(m->nr_class == 10);
  auto learner = make("type: svm_rbf\nC: 10\n");
  learner->load(temp_path("svm_rbf.model.libsvm"));
  auto ours = learner->predict(s.x_test);
  int64_t same = 0;
  auto x = s.x_test.contiguous();
  auto xa = x.accessor<float, 2>();
  auto oa = ours.accessor<int64_t, 1>();
  for (int64_t i = 0; i < x.size(0); ++i) {
    std::vector<svm_node> row;
    for (int64_t j = 0; j < x.size(1); ++j) {
      if (xa[i][j] != 0) row.push_back({int(j + 1), double(xa[i][j])});
    }
    row.push_back({-1, 0});
    same += int64_t(svm_predict(m, row.data())) == oa[i];
  }
  svm_free_and_destroy_model(&m);
  CHECK(same == x.size(0));
}

TEST_CASE("svm_linear learns the slice", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: svm_linear\nC: 1\n") > 0.7);
}

TEST_CASE("logistic_regression learns the slice", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: logistic_regression\nC: 1\n") > 0.7);
}

TEST_CASE("linear_svm learns the slice, primal and dual", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: linear_svm\nC: 0.1\n") > 0.7);
  CHECK(fit_and_round_trip("type: linear_svm\nC: 0.1\ndual: true\n") > 0.7);
}

TEST_CASE("xgboost learns the slice", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: xgboost\nn_estimators: 10\nmax_depth: 3\nmax_bin: 32\n") > 0.65);
}

TEST_CASE("xgboost_rf learns the slice", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: xgboost_rf\nn_estimators: 10\nmax_depth: 10\nmax_bin: 32\n") > 0.6);
}

TEST_CASE("random_forest learns the slice, beats one tree and is fixed by its seed", "[classic][learner]") {
  // 30 trees of sqrt(D) features per node; one unpruned tree scores about 0.6 here.
  const std::string yaml = "type: random_forest\nn_estimators: 30\n";
  CHECK(fit_and_round_trip(yaml) > 0.75);
  CHECK(fit_and_round_trip("type: random_forest\nn_estimators: 10\nmax_features: log2\n"
                           "criterion: entropy\nmax_depth: 8\nbootstrap: false\n") > 0.65);
  CHECK(fit_and_round_trip("type: random_forest\nn_estimators: 5\nmax_features: 0.5\n"
                           "min_samples_leaf: 3\nmax_bins: 16\n") > 0.65);

  // The same seed gives the same model file, whatever the thread count; another seed does not.
  const auto& s = slice();
  auto model_file = [&](uint64_t seed, int threads) {
    IntraOpThreads scope(threads);
    auto forest = make(yaml);
    forest->fit(s.x_train, s.y_train, 10, seed);
    const auto path = temp_path("forest_seed.json");
    forest->save(path);
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto first = model_file(7, 2);
  CHECK(model_file(7, 1) == first);
  CHECK(model_file(8, 2) != first);
}

TEST_CASE("random_forest refuses a bad max_features and a damaged file", "[classic][learner]") {
  CHECK_THROWS_WITH(make("type: random_forest\nmax_features: sqr\n"),
                    Catch::Contains("learner.yaml:2") && Catch::Contains("'max_features' must be sqrt, log2"));
  CHECK_THROWS_WITH(make("type: random_forest\nmax_features: 1.5\n"), Catch::Contains("max_features"));
  CHECK_THROWS_WITH(make("type: random_forest\nmax_features: 0\n"), Catch::Contains("max_features"));
  CHECK_THROWS_WITH(make("type: random_forest\nn_estimators: 0\n"), Catch::Contains("n_estimators"));
  auto forest = make("type: random_forest\n");
  CHECK_THROWS_AS(forest->load(temp_path("missing_forest.json")), InputError);
  const auto path = temp_path("damaged_forest.json");
  auto write = [&](const std::string& text) {
    std::ofstream out(path);
    out << text;
  };
  write(R"({"format": "strata-decision-tree", "n_features": 2, "n_classes": 2})");
  CHECK_THROWS_WITH(forest->load(path), Catch::Contains("not a strata-random-forest"));
  write(R"({"format": "strata-random-forest", "n_features": 2, "n_classes": 2, "trees": [)"
        R"({"feature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], )"
        R"("right": [2, -1, -1], "value": [0, 0, 1], "proba_node": [1], "proba": [0.5]}]})");
  CHECK_THROWS_WITH(forest->load(path), Catch::Contains("damaged random forest model") &&
                                           Catch::Contains("shares per proba_node"));
  write(R"({"format": "strata-random-forest", "n_features": 2, "n_classes": 2, "trees": [)"
        R"({"feature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], )"
        R"("right": [2, -1, -1], "value": [0, 0, 1], "proba_node": [0], "proba": [0.5, 0.5]}]})");
  CHECK_THROWS_WITH(forest->load(path), Catch::Contains("proba_node 0 is not a leaf"));
  write("{\"format\": \"strata-random-forest\", \"n_features\": 2, \"trees\": [");
  CHECK_THROWS_AS(forest->load(path), InputError);
  // A well-formed one: a stump whose right leaf holds both classes.
  write(R"({"format": "strata-random-forest", "n_features": 1, "n_classes": 2, "trees": [)"
        R"({"feature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], )"
        R"("right": [2, -1, -1], "value": [0, 0, 1], "proba_node": [2], "proba": [0.25, 0.75]}]})");
  forest->load(path);
  CHECK(torch::equal(forest->predict(torch::tensor({0.f, 1.f}).view({2, 1})),
                     torch::tensor({0, 1}, torch::kLong)));
}

TEST_CASE("decision_tree learns the slice and depth limits it", "[classic][learner]") {
  CHECK(fit_and_round_trip("type: decision_tree\n") > 0.55);
  CHECK(fit_and_round_trip("type: decision_tree\ncriterion: entropy\nmax_depth: 8\n") > 0.5);
  // A stump can only tell two groups of classes apart.
  CHECK(fit_and_round_trip("type: decision_tree\nmax_depth: 1\n") < 0.3);
}

TEST_CASE("decision_tree fits a separable problem exactly", "[classic][learner]") {
  auto x = torch::tensor({0.f, 1.f, 2.f, 3.f, 10.f, 11.f, 12.f, 13.f}).view({8, 1});
  auto y = torch::tensor({0, 0, 0, 0, 1, 1, 2, 2}, torch::kLong);
  auto tree = make("type: decision_tree\n");
  tree->fit(x, y, 3, 0);
  CHECK(torch::equal(tree->predict(x), y));
  CHECK(torch::equal(tree->predict(torch::tensor({-5.f, 6.f, 11.4f, 11.6f}).view({4, 1})),
                     torch::tensor({0, 0, 1, 2}, torch::kLong)));
}

TEST_CASE("learner config errors name the line and the key", "[classic][learner]") {
  CHECK_THROWS_WITH(make("type: svm_rbf\nC: -1\n"), Catch::Contains("learner.yaml:2") && Catch::Contains("'C' must be > 0"));
  CHECK_THROWS_WITH(make("type: svm_rbf\nCC: 1\n"), Catch::Contains("unknown key 'CC'") && Catch::Contains("did you mean 'C'"));
  CHECK_THROWS_WITH(make("type: svm_rbf\ngamma: fast\n"), Catch::Contains("scale, auto or a positive number"));
  CHECK_THROWS_WITH(make("type: random_forrest\n"), Catch::Contains("unknown learner 'random_forrest'") && Catch::Contains("random_forest"));
  CHECK_THROWS_AS(make("type: decision_tree\n")->load(temp_path("missing.json")), InputError);
}

TEST_CASE("a damaged model file is refused", "[classic][learner]") {
  const auto path = temp_path("damaged.json");
  {
    std::ofstream out(path);
    out << R"({"format": "strata-decision-tree", "n_features": 2, "n_classes": 2, "feature": [0], )"
           R"("threshold": [0.5], "left": [0], "right": [5], "value": [0]})";
  }
  CHECK_THROWS_WITH(make("type: decision_tree\n")->load(path), Catch::Contains("points outside the tree"));
  {
    std::ofstream out(temp_path("damaged.libsvm"));
    out << "svm_type c_svc\nkernel_type rbf\nnr_class 3\n";
  }
  CHECK_THROWS_AS(make("type: svm_rbf\n")->load(temp_path("damaged.libsvm")), InputError);
}

TEST_CASE("model selection expands grids and keeps the best on validation", "[classic][select]") {
  auto doc = config::Document::parse(
      "candidates:\n"
      "  - {type: decision_tree, max_depth: [1, 2]}\n"
      "  - {type: svm_rbf, C: 10}\n"
      "  - {type: logistic_regression, C: [0.01]}\n",
      "select.yaml");
  auto root = doc.root();
  auto candidates = read_candidates(root);
  root.finish();
  REQUIRE(candidates.size() == 4);
  CHECK(candidates[0].label == "decision_tree criterion=gini max_depth=1 min_samples_leaf=1");
  CHECK(candidates[1].label.find("max_depth=2") != std::string::npos);
  const auto& s = slice();
  // Validation: the first half of the test slice stands in for a held-out split.
  auto x_val = s.x_test.slice(0, 0, 250), y_val = s.y_test.slice(0, 0, 250);
  std::vector<size_t> seen;
  auto selection = select(std::move(candidates), s.x_train, s.y_train, x_val, y_val, 10, 0,
                          [&](size_t i, const SelectionRow&) { seen.push_back(i); });
  CHECK(seen == std::vector<size_t>{0, 1, 2, 3});
  CHECK(selection.best == 2);  // the SVM
  CHECK(selection.model->type() == "svm_rbf");
  for (size_t i = 0; i < selection.table.size(); ++i) {
    CHECK(selection.table[selection.best].validation_acc >= selection.table[i].validation_acc);
  }
  auto table = format_table(selection);
  CHECK(table.find("* svm_rbf") != std::string::npos);
}

TEST_CASE("model selection refuses a bad grid point when the config is read", "[classic][select]") {
  auto error = [](const std::string& yaml) {
    try {
      auto doc = config::Document::parse(yaml, "select.yaml");
      auto root = doc.root();
      read_candidates(root);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error("candidates:\n  - {type: svm_rbf}\n  - {type: decision_tree, max_depht: [1, 2]}\n") ==
        "select.yaml:3: unknown hyperparameter 'max_depht'; did you mean 'max_depth'?");
  CHECK(error("candidates:\n  - {type: svm_rbf, C: [1, abc]}\n") ==
        "select.yaml:2: 'C' must be a number, got 'abc'");
  CHECK(error("candidates:\n  - {type: svm_rbf, C: [1, -2]}\n") ==
        "select.yaml:2: 'C' must be > 0, got -2");
  CHECK(error("candidates: []\n").find("at least one learner") != std::string::npos);
}
