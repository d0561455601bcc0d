// xgboost and xgboost_rf through XGBoost's C API (libxgboost-dev), "hist" trees,
// multi:softprob over the classes. xgboost_rf is XGBoost's own random-forest recipe: a
// single round of n_estimators parallel trees (K regression trees each, one per class),
// learning rate 1, rows sampled per tree and features per split, deep trees. It took 653 s
// on Fashion-MNIST's pixels where scikit-learn's forest took 49 s; `random_forest` is
// Strata's own (models/classic/tree.cpp).

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/errors.h"
#include "models/classic/learner.h"

namespace strata::classic {

namespace {

void check(int status) {
  if (status != 0) throw std::runtime_error(std::string("xgboost: ") + XGBGetLastError());
}

struct XgbOptions {
  bool forest = false;
  int64_t n_estimators = 100;
  int64_t max_depth = 6;
  double learning_rate = 0.3;
  double subsample = 1.0;
  double colsample_bytree = 1.0;
  std::string max_features = "sqrt";  // xgboost_rf: features tried per split (sqrt | share)
  double min_child_weight = 1.0;
  double reg_lambda = 1.0;
  int64_t max_bin = 256;
};

void read_options(Params& p, XgbOptions& o) {
  if (o.forest) {  // scikit-learn-like defaults for a forest
    o.max_depth = 20;
    o.subsample = 0.632;  // the share of distinct rows in a bootstrap sample
    o.min_child_weight = 0.5;
  }
  p.read("n_estimators", o.n_estimators, config::Range::at_least(1));
  p.read("max_depth", o.max_depth, config::Range::at_least(1));
  if (!o.forest) {
    p.read("learning_rate", o.learning_rate, config::Range::positive());
    p.read("colsample_bytree", o.colsample_bytree, config::Range{0.0, 1.0, true});
  } else {
    p.read("max_features", o.max_features);
    if (o.max_features != "sqrt") {
      char* end = nullptr;
      double v = std::strtod(o.max_features.c_str(), &end);
      if (*end != '\0' || !(v > 0 && v <= 1)) {
        p.fail("max_features", "must be sqrt or a share of the features in (0, 1]");
      }
    }
  }
  p.read("subsample", o.subsample, config::Range{0.0, 1.0, true});
  p.read("min_child_weight", o.min_child_weight, config::Range::non_negative());
  p.read("reg_lambda", o.reg_lambda, config::Range::non_negative());
  p.read("max_bin", o.max_bin, config::Range::between(2, 65536));
}

// A DMatrix over a float [N, D] tensor, freed on scope exit.
class Matrix {
 public:
  explicit Matrix(const torch::Tensor& x_in) {
    auto x = x_in.to(torch::kFloat).contiguous();
    check(XGDMatrixCreateFromMat_omp(x.data_ptr<float>(), x.size(0), x.size(1),
                                     std::numeric_limits<float>::quiet_NaN(), &handle_,
                                     at::get_num_threads()));
  }
  ~Matrix() { XGDMatrixFree(handle_); }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

class XgbLearner : public Learner {
 public:
  explicit XgbLearner(XgbOptions o) : o_(std::move(o)) {}
  ~XgbLearner() override {
    if (booster_) XGBoosterFree(booster_);
  }

  std::string type() const override { return o_.forest ? "xgboost_rf" : "xgboost"; }
  std::string format() const override { return "json"; }

  nlohmann::json hyperparameters() const override {
    nlohmann::json h = {{"n_estimators", o_.n_estimators}, {"max_depth", o_.max_depth}};
    if (o_.forest) {
      h["max_features"] = o_.max_features;
    } else {
      h["learning_rate"] = o_.learning_rate;
    }
    return h;
  }

  void fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
           uint64_t seed) override {
    Matrix train(x);
    auto labels = y.to(torch::kFloat).contiguous();
    check(XGDMatrixSetFloatInfo(train.get(), "label", labels.data_ptr<float>(), labels.numel()));
    reset();
    DMatrixHandle data[] = {train.get()};
    check(XGBoosterCreate(data, 1, &booster_));
    configure_threads();
    set("objective", "multi:softprob");
    set("num_class", std::to_string(num_classes));
    set("tree_method", "hist");
    set("seed", std::to_string(seed % 2147483647));
    set("max_depth", std::to_string(o_.max_depth));
    set("subsample", fmt::format("{}", o_.subsample));
    set("min_child_weight", fmt::format("{}", o_.min_child_weight));
    set("lambda", fmt::format("{}", o_.reg_lambda));
    set("max_bin", std::to_string(o_.max_bin));
    int64_t rounds = o_.n_estimators;
    if (o_.forest) {
      const double D = double(x.size(1));
      double share = o_.max_features == "sqrt" ? std::sqrt(D) / D : std::stod(o_.max_features);
      set("num_parallel_tree", std::to_string(o_.n_estimators));
      set("eta", "1");
      set("colsample_bynode", fmt::format("{}", std::min(1.0, share)));
      rounds = 1;
    } else {
      set("eta", fmt::format("{}", o_.learning_rate));
      set("colsample_bytree", fmt::format("{}", o_.colsample_bytree));
    }
    for (int64_t it = 0; it < rounds; ++it) {
      check(XGBoosterUpdateOneIter(booster_, int(it), train.get()));
    }
  }

  torch::Tensor predict(const torch::Tensor& x) const override {
    if (!booster_) throw std::runtime_error(type() + ": predict before fit");
    Matrix m(x);
    const char* config =
        R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": true})";
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    check(XGBoosterPredictFromDMatrix(booster_, m.get(), config, &shape, &dims, &result));
    if (dims != 2) throw std::runtime_error("xgboost: unexpected prediction shape");
    auto probabilities =
        torch::from_blob(const_cast<float*>(result), {int64_t(shape[0]), int64_t(shape[1])},
                         torch::kFloat);
    return probabilities.argmax(1);
  }

  void save(const std::string& path) const override {
    if (!booster_) throw std::runtime_error(type() + ": save before fit");
    check(XGBoosterSaveModel(booster_, path.c_str()));
  }

  void load(const std::string& path) override {
    if (!std::filesystem::exists(path)) throw InputError(path + ": missing XGBoost model");
    reset();
    check(XGBoosterCreate(nullptr, 0, &booster_));
    if (XGBoosterLoadModel(booster_, path.c_str()) != 0) {
      std::string why = XGBGetLastError();
      reset();
      throw InputError(fmt::format("{}: not an XGBoost model ({})", path, why.substr(0, 200)));
    }
    configure_threads();
  }

 private:
  void reset() {
    if (booster_) XGBoosterFree(booster_);
    booster_ = nullptr;
  }
  void set(const char* key, const std::string& value) {
    check(XGBoosterSetParam(booster_, key, value.c_str()));
  }
  void configure_threads() const {
    check(XGBoosterSetParam(booster_, "nthread", std::to_string(at::get_num_threads()).c_str()));
    check(XGBoosterSetParam(booster_, "verbosity", "0"));
  }

  XgbOptions o_;
  BoosterHandle booster_ = nullptr;
};

}  // namespace

void register_xgboost_learners(LearnerRegistry& r) {
  for (bool forest : {false, true}) {
    r.add(forest ? "xgboost_rf" : "xgboost", [forest](Params& p) {
      XgbOptions o;
      o.forest = forest;
      read_options(p, o);
      return std::unique_ptr<Learner>(new XgbLearner(o));
    });
  }
}

}  // namespace strata::classic
