// logistic_regression and linear_svm: liblinear, one-vs-rest, with a bias feature of 1
// (scikit-learn's LogisticRegression(solver="liblinear") and LinearSVC). Prediction is one
// matrix product with liblinear's weights; the arg-max is liblinear's.

#include <fmt/format.h>
#include <linear.h>

#include <filesystem>

#include "core/errors.h"
#include "models/classic/learner.h"

namespace strata::classic {

namespace {

void quiet(const char*) {}

struct LinearOptions {
  std::string loss = "logistic";  // logistic | squared_hinge
  double C = 1.0;
  double tol = 1e-4;  // scikit-learn's default
  bool dual = false;  // linear_svm: solve the dual (fast when examples < features)
};

void read_options(Params& p, LinearOptions& o) {
  p.read("C", o.C, config::Range::positive());
  p.read("tol", o.tol, config::Range::positive());
  if (o.loss == "squared_hinge") p.read("dual", o.dual);
}

void free_linear(::model* m) {
  if (m) ::free_and_destroy_model(&m);
}

class LinearLearner : public Learner {
 public:
  explicit LinearLearner(LinearOptions o) : o_(o) {}
  ~LinearLearner() override { free_linear(model_); }

  std::string type() const override {
    return o_.loss == "logistic" ? "logistic_regression" : "linear_svm";
  }
  std::string format() const override { return "liblinear"; }
  nlohmann::json hyperparameters() const override {
    nlohmann::json h = {{"C", o_.C}};
    if (o_.loss == "squared_hinge") h["dual"] = o_.dual;
    return h;
  }

  void fit(const torch::Tensor& x_in, const torch::Tensor& y, int64_t num_classes,
           uint64_t seed) override {
    (void)num_classes;
    (void)seed;
    ::set_print_string_function(&quiet);
    auto x = x_in.to(torch::kFloat).contiguous();
    const int64_t N = x.size(0), D = x.size(1);
    const float* px = x.data_ptr<float>();
    // Sparse rows with the bias feature D+1 = 1 appended, each ended by index -1.
    std::vector<feature_node> nodes;
    nodes.reserve(size_t((x != 0).sum().item<int64_t>() + 2 * N));
    std::vector<size_t> starts(N);
    for (int64_t i = 0; i < N; ++i) {
      starts[i] = nodes.size();
      for (int64_t j = 0; j < D; ++j) {
        if (px[i * D + j] != 0.0f) nodes.push_back({int(j + 1), double(px[i * D + j])});
      }
      nodes.push_back({int(D + 1), 1.0});
      nodes.push_back({-1, 0.0});
    }
    std::vector<feature_node*> rows(N);
    for (int64_t i = 0; i < N; ++i) rows[i] = &nodes[starts[i]];
    auto labels = y.to(torch::kDouble).contiguous();
    std::vector<double> ys(labels.data_ptr<double>(), labels.data_ptr<double>() + N);

    problem prob{};
    prob.l = int(N);
    prob.n = int(D + 1);
    prob.y = ys.data();
    prob.x = rows.data();
    prob.bias = 1.0;
    parameter param{};
    param.solver_type = o_.loss == "logistic" ? L2R_LR
                        : o_.dual           ? L2R_L2LOSS_SVC_DUAL
                                            : L2R_L2LOSS_SVC;
    param.eps = o_.tol;
    param.C = o_.C;
    if (const char* bad = ::check_parameter(&prob, &param)) {
      throw InputError(fmt::format("{}: liblinear refused the parameters: {}", type(), bad));
    }
    free_linear(model_);
    model_ = ::train(&prob, &param);  // copies the weights; the data may go
    prepare_prediction();
  }

  torch::Tensor predict(const torch::Tensor& x_in) const override {
    if (!model_) throw std::runtime_error(type() + ": predict before fit");
    auto x = x_in.to(torch::kFloat);
    const int64_t D = std::min<int64_t>(x.size(1), weight_.size(0));
    auto decision = torch::matmul(x.narrow(1, 0, D), weight_.narrow(0, 0, D)) + bias_;
    if (decision.size(1) == 1) {  // two classes: one decision value, positive for label[0]
      return torch::where(decision.squeeze(1) > 0, labels_[0], labels_[1]);
    }
    return labels_.index_select(0, decision.argmax(1));
  }

  void save(const std::string& path) const override {
    if (!model_) throw std::runtime_error(type() + ": save before fit");
    if (::save_model(path.c_str(), model_) != 0) {
      throw std::runtime_error(fmt::format("{}: cannot write the liblinear model", path));
    }
  }

  void load(const std::string& path) override {
    ::model* m = std::filesystem::exists(path) ? ::load_model(path.c_str()) : nullptr;
    if (!m || m->nr_class < 2) {
      free_linear(m);
      throw InputError(fmt::format("{}: missing or not a liblinear model", path));
    }
    free_linear(model_);
    model_ = m;
    prepare_prediction();
  }

 private:
  // liblinear keeps w as [features (+ bias)] x [one column per class, or one for two classes].
  void prepare_prediction() {
    const int k = model_->nr_class;
    const int columns = (k == 2 && model_->param.solver_type != MCSVM_CS) ? 1 : k;
    const int features = model_->nr_feature;
    weight_ = torch::from_blob(model_->w, {features, columns}, torch::kDouble)
                  .to(torch::kFloat)
                  .clone();
    bias_ = torch::zeros({columns}, torch::kFloat);
    if (model_->bias >= 0) {
      bias_ = torch::from_blob(model_->w + int64_t(features) * columns, {columns}, torch::kDouble)
                  .to(torch::kFloat)
                  .mul(float(model_->bias));
    }
    labels_ = torch::empty({k}, torch::kLong);
    for (int c = 0; c < k; ++c) labels_[c] = model_->label[c];
  }

  LinearOptions o_;
  ::model* model_ = nullptr;
  torch::Tensor weight_;  // float [D, columns]
  torch::Tensor bias_;    // float [columns]
  torch::Tensor labels_;  // int64 [k]
};

}  // namespace

void register_linear_learners(LearnerRegistry& r) {
  r.add("logistic_regression", [](Params& p) {
    LinearOptions o;
    o.loss = "logistic";
    read_options(p, o);
    return std::unique_ptr<Learner>(new LinearLearner(o));
  });
  r.add("linear_svm", [](Params& p) {
    LinearOptions o;
    o.loss = "squared_hinge";
    read_options(p, o);
    return std::unique_ptr<Learner>(new LinearLearner(o));
  });
}

}  // namespace strata::classic
