#pragma once
// Stage 2's deciders: learners fitted on a feature matrix.
//
// Registered `learner.type` names and their engines:
//   svm_rbf, svm_linear          libsvm C-SVC (scikit-learn's SVC), one-vs-one
//   logistic_regression          liblinear L2-regularised logistic regression, one-vs-rest
//   linear_svm                   liblinear L2-loss linear SVM (scikit-learn's LinearSVC)
//   xgboost                      XGBoost gradient-boosted trees (hist)
//   xgboost_rf                   XGBoost random forest: one round of parallel trees
//   decision_tree                Strata's own CART (Gini or entropy, histogram splits)
//   random_forest                Strata's own forest of those trees (Breiman 2001), like
//                                scikit-learn's RandomForestClassifier
//
// Each learner saves its library's own model file (Strata's JSON for its own trees),
// model.<format()> in a checkpoint (docs/architecture.md, "Checkpoint directory").
//
// Hyperparameters come through Params, which a config mapping or one point of a
// model-selection grid (models/classic/select.h) provides, so one read_options per learner
// serves both.

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace strata::classic {

class Params {
 public:
  virtual ~Params() = default;
  virtual void read(const std::string& key, double& out, config::Range range = {}) = 0;
  virtual void read(const std::string& key, int64_t& out, config::Range range = {}) = 0;
  virtual void read(const std::string& key, bool& out) = 0;
  virtual void read(const std::string& key, std::string& out) = 0;
  void read_choice(const std::string& key, std::string& out,
                   const std::vector<std::string>& choices);
  // "file.yaml:12" for a key.
  virtual std::string where(const std::string& key) const = 0;
  // Refuses keys given but never read.
  virtual void finish() = 0;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
};

// Params from a config mapping (`learner:`), with the config's own checks and messages.
class ConfigParams : public Params {
 public:
  explicit ConfigParams(config::Reader r) : r_(std::move(r)) {}
  void read(const std::string& key, double& out, config::Range range = {}) override;
  void read(const std::string& key, int64_t& out, config::Range range = {}) override;
  void read(const std::string& key, bool& out) override;
  void read(const std::string& key, std::string& out) override;
  std::string where(const std::string& key) const override { return r_.where(key); }
  void finish() override { r_.finish(); }

 private:
  config::Reader r_;
};

// One point of a grid: each key holds one value as text (from a YAML list); messages
// point at the candidate's line in the config.
class GridPoint : public Params {
 public:
  GridPoint(std::map<std::string, std::string> values, config::Reader at)
      : values_(std::move(values)), at_(std::move(at)) {}
  void read(const std::string& key, double& out, config::Range range = {}) override;
  void read(const std::string& key, int64_t& out, config::Range range = {}) override;
  void read(const std::string& key, bool& out) override;
  void read(const std::string& key, std::string& out) override;
  std::string where(const std::string& key) const override { return at_.where(key); }
  void finish() override;

 private:
  const std::string* find(const std::string& key);
  void check(const std::string& key, double v, const config::Range& range) const;
  std::map<std::string, std::string> values_;
  config::Reader at_;
  std::vector<std::string> known_;
  std::set<std::string> used_;
};

class Learner {
 public:
  virtual ~Learner() = default;
  virtual std::string type() const = 0;
  // The hyperparameters in use, for tables, state.json and results.json.
  virtual nlohmann::json hyperparameters() const = 0;
  // x: float [N, D]; y: int64 [N] with values in [0, num_classes).
  virtual void fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
                   uint64_t seed) = 0;
  // float [N, D] -> int64 [N] class indices.
  virtual torch::Tensor predict(const torch::Tensor& x) const = 0;
  // The model file's format: model.<format> ("libsvm", "liblinear", "json").
  virtual std::string format() const = 0;
  virtual void save(const std::string& path) const = 0;
  // A missing or damaged file is an InputError naming it.
  virtual void load(const std::string& path) = 0;
};

using LearnerRegistry = Registry<std::unique_ptr<Learner>(Params&)>;

// Every learner, registered on first use.
LearnerRegistry& learners();

// Reads `type` and that learner's hyperparameters from a `learner:` mapping, then finishes it.
std::unique_ptr<Learner> make_learner(config::Reader r);

// "C=10 gamma=scale" from hyperparameters().
std::string describe(const nlohmann::json& hyperparameters);

// Share of predictions equal to the labels.
double accuracy(const torch::Tensor& predicted, const torch::Tensor& labels);

// Each learner family's registration, in its own file.
void register_svm_learners(LearnerRegistry& r);
void register_linear_learners(LearnerRegistry& r);
void register_xgboost_learners(LearnerRegistry& r);
void register_tree_learners(LearnerRegistry& r);

}  // namespace strata::classic
