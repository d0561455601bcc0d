// svm_rbf and svm_linear: libsvm's C-SVC, one-vs-one over the classes.
//
// libsvm's svm_train() solves the K(K-1)/2 pairwise problems one after another, evaluating
// kernels one sparse dot product at a time. Strata hands each pair to libsvm as its own
// two-class problem, on the intra-op threads, with the pair's kernel matrix computed by one
// matrix product (libsvm's precomputed-kernel mode), and assembles the results into one
// libsvm model exactly as svm_train() does (same sub-problem order, same support-vector
// layout, the original feature vectors as support vectors), so the saved model.libsvm is
// an ordinary RBF or linear libsvm model. Prediction evaluates every kernel value for a batch of examples with one matrix
// product instead of libsvm's per-example loops; the one-vs-one vote is libsvm's.

#include <fmt/format.h>
#include <libsvm/svm.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/errors.h"
#include "models/classic/learner.h"
#include "models/classic/threads.h"

namespace strata::classic {

namespace {

void quiet(const char*) {}

struct SvmOptions {
  std::string kernel = "rbf";     // rbf | linear
  double C = 1.0;
  std::string gamma = "scale";    // scale: 1 / (D var(x)), auto: 1 / D, or a number
  double tol = 1e-3;              // libsvm's eps
  double cache_mb = 200.0;        // libsvm's kernel cache per pairwise problem
  double precompute_mb = 4096.0;  // memory for precomputed pairwise kernel matrices
  bool shrinking = true;
};

void read_options(Params& p, SvmOptions& o) {
  p.read("C", o.C, config::Range::positive());
  if (o.kernel == "rbf") {
    p.read("gamma", o.gamma);
    if (o.gamma != "scale" && o.gamma != "auto") {
      char* end = nullptr;
      double v = std::strtod(o.gamma.c_str(), &end);
      if (*end != '\0' || !(v > 0)) p.fail("gamma", "must be scale, auto or a positive number");
    }
  }
  p.read("tol", o.tol, config::Range::positive());
  p.read("cache_mb", o.cache_mb, config::Range::positive());
  p.read("precompute_mb", o.precompute_mb, config::Range::non_negative());
  p.read("shrinking", o.shrinking);
}

// float [N, D] -> libsvm's sparse rows: (1-based index, value) pairs without zeros, each
// row ended by index -1. Rows point into one buffer.
struct SparseRows {
  std::vector<svm_node> nodes;
  std::vector<svm_node*> rows;
};

SparseRows to_sparse(const torch::Tensor& x) {
  auto xc = x.to(torch::kFloat).contiguous();
  const int64_t N = xc.size(0), D = xc.size(1);
  const float* p = xc.data_ptr<float>();
  SparseRows s;
  s.nodes.reserve(size_t((xc != 0).sum().item<int64_t>() + N));
  std::vector<size_t> starts(N);
  for (int64_t i = 0; i < N; ++i) {
    starts[i] = s.nodes.size();
    for (int64_t j = 0; j < D; ++j) {
      float v = p[i * D + j];
      if (v != 0.0f) s.nodes.push_back({int(j + 1), double(v)});
    }
    s.nodes.push_back({-1, 0.0});
  }
  for (int64_t i = 0; i < N; ++i) s.rows.push_back(&s.nodes[starts[i]]);
  return s;
}

void free_model(svm_model* m) {
  if (m) svm_free_and_destroy_model(&m);
}

class SvmLearner : public Learner {
 public:
  explicit SvmLearner(SvmOptions o) : o_(std::move(o)) {}
  ~SvmLearner() override { free_model(model_); }

  std::string type() const override { return "svm_" + o_.kernel; }
  std::string format() const override { return "libsvm"; }

  nlohmann::json hyperparameters() const override {
    nlohmann::json h = {{"C", o_.C}};
    if (o_.kernel == "rbf") h["gamma"] = o_.gamma;
    return h;
  }

  void fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
           uint64_t seed) override;
  torch::Tensor predict(const torch::Tensor& x) const override;

  void save(const std::string& path) const override {
    if (!model_) throw std::runtime_error("svm: save before fit");
    if (svm_save_model(path.c_str(), model_) != 0) {
      throw std::runtime_error(fmt::format("{}: cannot write the libsvm model", path));
    }
  }

  void load(const std::string& path) override {
    svm_model* m = std::filesystem::exists(path) ? svm_load_model(path.c_str()) : nullptr;
    if (!m) throw InputError(fmt::format("{}: missing or not a libsvm model", path));
    if (m->param.svm_type != C_SVC || m->nr_class < 2 ||
        (m->param.kernel_type != RBF && m->param.kernel_type != LINEAR)) {
      free_model(m);
      throw InputError(fmt::format("{}: not a C-SVC model with an rbf or linear kernel", path));
    }
    free_model(model_);
    model_ = m;
    sv_storage_.clear();
    prepare_prediction();
  }

 private:
  svm_parameter parameter(double gamma) const {
    svm_parameter p{};
    p.svm_type = C_SVC;
    p.kernel_type = o_.kernel == "rbf" ? RBF : LINEAR;
    p.degree = 3;
    p.gamma = gamma;
    p.coef0 = 0;
    p.cache_size = o_.cache_mb;
    p.eps = o_.tol;
    p.C = o_.C;
    p.shrinking = o_.shrinking ? 1 : 0;
    p.probability = 0;
    return p;
  }

  void prepare_prediction();

  SvmOptions o_;
  svm_model* model_ = nullptr;
  std::vector<svm_node> sv_storage_;  // the support vectors of a fitted (not loaded) model
  // The model in matrix form for batched prediction.
  torch::Tensor sv_;      // float [l, D] support vectors
  torch::Tensor sv_sq_;   // float [l] their squared norms
  torch::Tensor coef_;    // double [l, P] each support vector's weight in each pair
  torch::Tensor rho_;     // double [P]
  torch::Tensor pair_;    // int64 [2, P]: the pair's two class slots
  torch::Tensor labels_;  // int64 [k]: class of each slot
};

void SvmLearner::fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
                     uint64_t seed) {
  (void)num_classes;
  (void)seed;  // libsvm's C-SVC without probability estimates draws no random numbers
  svm_set_print_string_function(&quiet);
  const int64_t D = x.size(1);
  double gamma = 0;
  if (o_.gamma == "scale") {
    double var = x.to(torch::kDouble).var(/*unbiased=*/false).item<double>();
    gamma = var > 0 ? 1.0 / (double(D) * var) : 1.0;
  } else if (o_.gamma == "auto") {
    gamma = 1.0 / double(D);
  } else {
    gamma = std::strtod(o_.gamma.c_str(), nullptr);
  }
  const svm_parameter param = parameter(gamma);

  // Group the examples by class, in their original order (svm_train's layout).
  auto labels = y.to(torch::kLong).contiguous();
  const int64_t N = labels.size(0);
  const int64_t* lab = labels.data_ptr<int64_t>();
  std::map<int64_t, std::vector<int>> members;
  for (int64_t i = 0; i < N; ++i) members[lab[i]].push_back(int(i));
  std::vector<int64_t> classes;
  for (auto& [c, _] : members) classes.push_back(c);
  const int k = int(classes.size());
  if (k < 2) throw InputError("svm: the training set holds fewer than two classes");

  SparseRows data = to_sparse(x);
  auto xf = x.to(torch::kFloat).contiguous();

  // The pairwise problems (i, j), i < j, as libsvm orders them, on a pool of threads.
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j) pairs.emplace_back(i, j);
  const int P = int(pairs.size());
  // A pair's whole kernel matrix, computed by one matrix product and handed to libsvm as a
  // precomputed kernel, replaces libsvm's own kernel evaluations (a sparse dot product
  // per entry): the same numbers, many times faster. It takes n (n + 2) libsvm nodes of
  // 16 bytes for a pair of n examples; pairs run in parallel only as far as precompute_mb
  // allows, and a pair too large for it is left to libsvm's own kernel evaluations.
  size_t largest = 0;
  for (auto [i, j] : pairs) {
    largest = std::max(largest, members.at(classes[i]).size() + members.at(classes[j]).size());
  }
  const double pair_mb = double(largest) * double(largest + 2) * sizeof(svm_node) / 1048576.0;
  const bool precompute = pair_mb <= o_.precompute_mb;
  const int threads = std::max(
      1, std::min({P, at::get_num_threads(), precompute ? int(o_.precompute_mb / pair_mb) : P}));

  struct PairResult {
    std::vector<std::pair<int, double>> weight;  // example -> signed alpha, on the i side +
    double rho = 0;
  };
  std::vector<PairResult> results(P);
  std::atomic<int> next{0};
  std::mutex error_mutex;
  std::string error;
  auto work = [&] {
    for (int p; (p = next++) < P;) {
      auto [i, j] = pairs[p];
      std::vector<int> index = members.at(classes[i]);
      const size_t n_i = index.size();
      const auto& second = members.at(classes[j]);
      index.insert(index.end(), second.begin(), second.end());
      const int n = int(index.size());
      std::vector<double> sub_y(n);
      std::vector<svm_node*> sub_x(n);
      std::vector<svm_node> kernel_rows;
      svm_parameter pair_param = param;
      if (precompute) {
        // Row r: {0, r + 1} (libsvm's serial number), then {c + 1, K(r, c)} for every c.
        auto rows = xf.index_select(0, torch::tensor(std::vector<int64_t>(index.begin(), index.end())));
        auto kernel = torch::matmul(rows, rows.t());  // [n, n]
        if (param.kernel_type == RBF) {
          auto sq = rows.square().sum(1);
          kernel = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * kernel).clamp_min_(0).mul_(-gamma).exp_();
        }
        kernel = kernel.contiguous();
        const float* kp = kernel.data_ptr<float>();
        kernel_rows.resize(size_t(n) * (n + 2));
        for (int r = 0; r < n; ++r) {
          svm_node* row = &kernel_rows[size_t(r) * (n + 2)];
          row[0] = {0, double(r + 1)};
          for (int c = 0; c < n; ++c) row[c + 1] = {c + 1, double(kp[size_t(r) * n + c])};
          row[n + 1] = {-1, 0.0};
          sub_x[r] = row;
        }
        pair_param.kernel_type = PRECOMPUTED;
      } else {
        for (int r = 0; r < n; ++r) sub_x[r] = data.rows[index[r]];
      }
      for (int r = 0; r < n; ++r) sub_y[r] = size_t(r) < n_i ? double(i) : double(j);
      svm_problem prob{n, sub_y.data(), sub_x.data()};
      if (const char* bad = svm_check_parameter(&prob, &pair_param)) {
        std::lock_guard<std::mutex> lock(error_mutex);
        error = bad;
        return;
      }
      svm_model* m = svm_train(&prob, &pair_param);
      // The first class seen (slot i, listed first) is libsvm's +1 side.
      const double sign = m->label[0] == i ? 1.0 : -1.0;
      for (int s = 0; s < m->l; ++s) {
        results[p].weight.emplace_back(index[m->sv_indices[s] - 1], sign * m->sv_coef[0][s]);
      }
      results[p].rho = sign * m->rho[0];
      free_model(m);
    }
  };
  run_workers(threads, [&](int) { work(); });
  if (!error.empty()) throw InputError(fmt::format("svm: libsvm refused the parameters: {}", error));

  // Which examples are support vectors of any pair.
  std::vector<char> is_sv(N, 0);
  for (const auto& r : results)
    for (auto [example, _] : r.weight) is_sv[example] = 1;

  // One libsvm model, laid out as svm_train lays it out: support vectors grouped by class.
  std::vector<int> sv_list, n_sv(k, 0);
  for (int c = 0; c < k; ++c) {
    for (int e : members[classes[c]]) {
      if (is_sv[e]) {
        sv_list.push_back(e);
        ++n_sv[c];
      }
    }
  }
  const int l = int(sv_list.size());
  std::vector<size_t> offset;
  sv_storage_.clear();
  for (int e : sv_list) {
    offset.push_back(sv_storage_.size());
    for (svm_node* n = data.rows[e];; ++n) {
      sv_storage_.push_back(*n);
      if (n->index == -1) break;
    }
  }
  auto* m = static_cast<svm_model*>(std::calloc(1, sizeof(svm_model)));
  m->param = param;
  m->nr_class = k;
  m->l = l;
  m->SV = static_cast<svm_node**>(std::malloc(sizeof(svm_node*) * std::max(l, 1)));
  m->sv_indices = static_cast<int*>(std::malloc(sizeof(int) * std::max(l, 1)));
  for (int s = 0; s < l; ++s) {
    m->SV[s] = &sv_storage_[offset[s]];
    m->sv_indices[s] = sv_list[s] + 1;
  }
  m->sv_coef = static_cast<double**>(std::malloc(sizeof(double*) * (k - 1)));
  for (int c = 0; c < k - 1; ++c) {
    m->sv_coef[c] = static_cast<double*>(std::calloc(std::max(l, 1), sizeof(double)));
  }
  std::map<int, int> position;  // example -> support-vector slot
  for (int s = 0; s < l; ++s) position[sv_list[s]] = s;
  for (int p = 0; p < P; ++p) {
    auto [i, j] = pairs[p];
    for (auto [example, w] : results[p].weight) {
      // Class i's coefficients for pair (i, j) live in row j-1, class j's in row i.
      int row = lab[example] == classes[i] ? j - 1 : i;
      m->sv_coef[row][position[example]] = w;
    }
  }
  m->rho = static_cast<double*>(std::malloc(sizeof(double) * P));
  for (int p = 0; p < P; ++p) m->rho[p] = results[p].rho;
  m->label = static_cast<int*>(std::malloc(sizeof(int) * k));
  m->nSV = static_cast<int*>(std::malloc(sizeof(int) * k));
  for (int c = 0; c < k; ++c) {
    m->label[c] = int(classes[c]);
    m->nSV[c] = n_sv[c];
  }
  m->free_sv = 0;  // the support vectors live in sv_storage_
  free_model(model_);
  model_ = m;
  prepare_prediction();
}

void SvmLearner::prepare_prediction() {
  const svm_model* m = model_;
  const int k = m->nr_class, l = m->l;
  int64_t D = 0;
  for (int s = 0; s < l; ++s)
    for (const svm_node* n = m->SV[s]; n->index != -1; ++n) D = std::max<int64_t>(D, n->index);
  sv_ = torch::zeros({l, D}, torch::kFloat);
  auto sv = sv_.accessor<float, 2>();
  for (int s = 0; s < l; ++s)
    for (const svm_node* n = m->SV[s]; n->index != -1; ++n) sv[s][n->index - 1] = float(n->value);
  sv_sq_ = sv_.square().sum(1);

  std::vector<int> start(k, 0);
  for (int c = 1; c < k; ++c) start[c] = start[c - 1] + m->nSV[c - 1];
  const int P = k * (k - 1) / 2;
  coef_ = torch::zeros({l, P}, torch::kDouble);
  rho_ = torch::empty({P}, torch::kDouble);
  pair_ = torch::empty({2, P}, torch::kLong);
  auto coef = coef_.accessor<double, 2>();
  int p = 0;
  for (int i = 0; i < k; ++i) {
    for (int j = i + 1; j < k; ++j, ++p) {
      for (int s = 0; s < m->nSV[i]; ++s) coef[start[i] + s][p] = m->sv_coef[j - 1][start[i] + s];
      for (int s = 0; s < m->nSV[j]; ++s) coef[start[j] + s][p] = m->sv_coef[i][start[j] + s];
      rho_[p] = m->rho[p];
      pair_[0][p] = i;
      pair_[1][p] = j;
    }
  }
  labels_ = torch::empty({k}, torch::kLong);
  for (int c = 0; c < k; ++c) labels_[c] = m->label[c];
}

torch::Tensor SvmLearner::predict(const torch::Tensor& x_in) const {
  if (!model_) throw std::runtime_error("svm: predict before fit");
  auto x = x_in.to(torch::kFloat).contiguous();
  const int64_t N = x.size(0), D = std::min(x.size(1), sv_.size(1));
  const int64_t k = labels_.size(0);
  const bool rbf = model_->param.kernel_type == RBF;
  const float gamma = float(model_->param.gamma);
  auto out = torch::empty({N}, torch::kLong);
  constexpr int64_t kBatch = 2048;
  for (int64_t lo = 0; lo < N; lo += kBatch) {
    auto xb = x.slice(0, lo, std::min(N, lo + kBatch));                    // [B, D]
    auto dot = torch::matmul(xb.narrow(1, 0, D), sv_.narrow(1, 0, D).t());  // [B, l]
    auto kernel = rbf ? torch::exp(-gamma * (xb.square().sum(1, true) + sv_sq_.unsqueeze(0) -
                                             2 * dot).clamp_min(0))
                      : dot;
    auto decision = torch::matmul(kernel.to(torch::kDouble), coef_) - rho_;  // [B, P]
    // Each pair votes for its first class when its decision value is positive.
    auto winner = torch::where(decision > 0, pair_[0].unsqueeze(0), pair_[1].unsqueeze(0));
    auto votes = torch::zeros({xb.size(0), k}, torch::kLong);
    votes.scatter_add_(1, winner, torch::ones_like(winner));
    out.slice(0, lo, lo + xb.size(0)).copy_(labels_.index_select(0, votes.argmax(1)));
  }
  return out;
}

}  // namespace

void register_svm_learners(LearnerRegistry& r) {
  for (std::string kernel : {"rbf", "linear"}) {
    r.add("svm_" + kernel, [kernel](Params& p) {
      SvmOptions o;
      o.kernel = kernel;
      read_options(p, o);
      return std::unique_ptr<Learner>(new SvmLearner(o));
    });
  }
}

}  // namespace strata::classic
