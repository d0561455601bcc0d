// decision_tree: Strata's own CART classifier (Breiman et al.), like scikit-learn's
// DecisionTreeClassifier: binary splits `feature <= threshold` chosen by Gini impurity or
// entropy over all classes at once, grown depth-first until nodes are pure, too small or
// too deep.
//
// Why not XGBoost with one tree: XGBoost's multi-class trees are K regression trees fitted
// to softmax gradients, not one tree whose leaves name a class; a decision tree a person
// can read is what the design notes' try-and-error loop compares.
//
// Candidate thresholds are the midpoints between a feature's distinct training values, or,
// when there are more than max_bins of them, max_bins quantiles; examples are binned once,
// and each node's best split comes from per-feature class histograms over the bins
// (features spread over the intra-op threads).
//
// model.json: {"format": "strata-decision-tree", "n_features", "n_classes", "feature",
// "threshold", "left", "right", "value"}; a leaf has feature -1 and value = its class.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "models/classic/learner.h"

namespace strata::classic {

namespace {

struct TreeOptions {
  int64_t max_depth = 0;  // 0: no limit
  int64_t min_samples_split = 2;
  int64_t min_samples_leaf = 1;
  std::string criterion = "gini";  // gini | entropy
  int64_t max_bins = 256;
};

void read_options(Params& p, TreeOptions& o) {
  p.read("max_depth", o.max_depth, config::Range::non_negative());
  p.read("min_samples_split", o.min_samples_split, config::Range::at_least(2));
  p.read("min_samples_leaf", o.min_samples_leaf, config::Range::at_least(1));
  p.read_choice("criterion", o.criterion, {"gini", "entropy"});
  p.read("max_bins", o.max_bins, config::Range::between(2, 256));
}

struct Split {
  double score = -std::numeric_limits<double>::infinity();  // higher is better
  int64_t feature = -1;
  int64_t bin = -1;  // left: bin <= this
};

// Examples binned per feature: bins[f * N + i] = number of thresholds of f below x[i, f].
struct BinnedData {
  int64_t N = 0, D = 0;
  std::vector<uint8_t> bins;
  std::vector<std::vector<float>> thresholds;  // per feature, increasing
};

BinnedData bin_features(const torch::Tensor& x_in, int64_t max_bins) {
  auto x = x_in.to(torch::kFloat).contiguous();
  BinnedData b;
  b.N = x.size(0);
  b.D = x.size(1);
  b.bins.resize(size_t(b.N * b.D));
  b.thresholds.resize(b.D);
  auto columns = x.t().contiguous();            // [D, N]
  auto sorted = std::get<0>(columns.sort(1));   // [D, N]
  const float* s = sorted.data_ptr<float>();
  const float* c = columns.data_ptr<float>();
  at::parallel_for(0, b.D, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t f = lo; f < hi; ++f) {
      const float* col = s + f * b.N;
      std::vector<float> distinct;
      for (int64_t i = 0; i < b.N; ++i) {
        if (distinct.empty() || col[i] != distinct.back()) distinct.push_back(col[i]);
      }
      auto& t = b.thresholds[f];
      if (int64_t(distinct.size()) <= max_bins) {
        for (size_t i = 0; i + 1 < distinct.size(); ++i) {
          t.push_back(distinct[i] + (distinct[i + 1] - distinct[i]) / 2);
        }
      } else {
        for (int64_t q = 1; q < max_bins; ++q) {
          float v = col[q * b.N / max_bins];
          if (v < distinct.back() && (t.empty() || v > t.back())) t.push_back(v);
        }
      }
      uint8_t* out = b.bins.data() + f * b.N;
      const float* raw = c + f * b.N;
      for (int64_t i = 0; i < b.N; ++i) {
        out[i] = uint8_t(std::lower_bound(t.begin(), t.end(), raw[i]) - t.begin());
      }
    }
  });
  return b;
}

class TreeLearner : public Learner {
 public:
  explicit TreeLearner(TreeOptions o) : o_(std::move(o)) {}

  std::string type() const override { return "decision_tree"; }
  std::string format() const override { return "json"; }
  nlohmann::json hyperparameters() const override {
    return {{"max_depth", o_.max_depth}, {"min_samples_leaf", o_.min_samples_leaf},
            {"criterion", o_.criterion}};
  }

  void fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
           uint64_t seed) override;
  torch::Tensor predict(const torch::Tensor& x) const override;
  void save(const std::string& path) const override;
  void load(const std::string& path) override;

 private:
  // Impurity score of a split from class counts; higher is better. Gini: sum_c l_c^2 / n_l
  // + sum_c r_c^2 / n_r (the weighted impurity, up to a constant, negated). Entropy: the
  // children's sum_c n_c ln(n_c / n), i.e. minus n times their entropy.
  double score(const int64_t* left, const int64_t* total, int64_t n_left, int64_t n) const;
  Split best_split(const BinnedData& data, const std::vector<int64_t>& labels,
                   const int64_t* samples, int64_t n, const std::vector<int64_t>& counts) const;
  int64_t add_node() {
    feature_.push_back(-1);
    threshold_.push_back(0);
    left_.push_back(-1);
    right_.push_back(-1);
    value_.push_back(0);
    return int64_t(feature_.size()) - 1;
  }

  TreeOptions o_;
  int64_t K_ = 0, D_ = 0;
  std::vector<int64_t> feature_, left_, right_, value_;
  std::vector<float> threshold_;
};

double TreeLearner::score(const int64_t* left, const int64_t* total, int64_t n_left,
                          int64_t n) const {
  const int64_t n_right = n - n_left;
  double s = 0;
  if (o_.criterion == "gini") {
    double l2 = 0, r2 = 0;
    for (int64_t c = 0; c < K_; ++c) {
      double l = double(left[c]), r = double(total[c] - left[c]);
      l2 += l * l;
      r2 += r * r;
    }
    return l2 / double(n_left) + r2 / double(n_right);
  }
  for (int64_t c = 0; c < K_; ++c) {
    double l = double(left[c]), r = double(total[c] - left[c]);
    if (l > 0) s += l * std::log(l / double(n_left));
    if (r > 0) s += r * std::log(r / double(n_right));
  }
  return s;
}

Split TreeLearner::best_split(const BinnedData& data, const std::vector<int64_t>& labels,
                              const int64_t* samples, int64_t n,
                              const std::vector<int64_t>& counts) const {
  const int64_t msl = o_.min_samples_leaf;
  auto search = [&](int64_t f_lo, int64_t f_hi) {
    Split best;
    // Zeroed once; each feature clears only the entries its examples touched.
    std::vector<int64_t> hist(256 * K_, 0), bin_n(256, 0), left(K_);
    std::vector<int64_t> present;  // the bins that hold examples, in increasing order
    for (int64_t f = f_lo; f < f_hi; ++f) {
      const int64_t nb = int64_t(data.thresholds[f].size()) + 1;
      if (nb < 2) continue;
      const uint8_t* bins = data.bins.data() + f * data.N;
      present.clear();
      for (int64_t s = 0; s < n; ++s) {
        const int64_t i = samples[s];
        ++hist[bins[i] * K_ + labels[i]];
        if (bin_n[bins[i]]++ == 0) present.push_back(bins[i]);
      }
      std::sort(present.begin(), present.end());
      std::fill(left.begin(), left.end(), 0);
      int64_t n_left = 0;
      for (size_t k = 0; k + 1 < present.size(); ++k) {  // the last bin leaves nothing right
        const int64_t b = present[k];
        for (int64_t c = 0; c < K_; ++c) left[c] += hist[b * K_ + c];
        n_left += bin_n[b];
        if (n_left < msl) continue;
        if (n - n_left < msl) break;
        double s = score(left.data(), counts.data(), n_left, n);
        if (s > best.score + 1e-12) best = {s, f, b};
      }
      for (int64_t b : present) {
        std::fill(hist.begin() + b * K_, hist.begin() + (b + 1) * K_, 0);
        bin_n[b] = 0;
      }
    }
    return best;
  };
  // Split the features over threads for large nodes; ties go to the lower feature.
  const int64_t threads = at::get_num_threads();
  if (threads <= 1 || n * data.D < 200000) return search(0, data.D);
  std::vector<Split> found(threads);
  const int64_t per = (data.D + threads - 1) / threads;
  at::parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      found[t] = search(std::min(data.D, t * per), std::min(data.D, (t + 1) * per));
    }
  });
  Split best;
  for (const auto& s : found) {
    if (s.feature >= 0 && s.score > best.score + 1e-12) best = s;
  }
  return best;
}

void TreeLearner::fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
                      uint64_t seed) {
  (void)seed;  // every feature is tried at every node: no randomness
  K_ = num_classes;
  D_ = x.size(1);
  feature_.clear(), threshold_.clear(), left_.clear(), right_.clear(), value_.clear();
  const BinnedData data = bin_features(x, o_.max_bins);
  auto yl = y.to(torch::kLong).contiguous();
  const std::vector<int64_t> labels(yl.data_ptr<int64_t>(), yl.data_ptr<int64_t>() + yl.numel());
  std::vector<int64_t> samples(data.N);
  for (int64_t i = 0; i < data.N; ++i) samples[i] = i;

  struct Pending {
    int64_t node, begin, end, depth;
  };
  std::vector<Pending> stack = {{add_node(), 0, data.N, 0}};
  while (!stack.empty()) {
    Pending p = stack.back();
    stack.pop_back();
    const int64_t n = p.end - p.begin;
    std::vector<int64_t> counts(K_, 0);
    for (int64_t s = p.begin; s < p.end; ++s) ++counts[labels[samples[s]]];
    value_[p.node] = std::max_element(counts.begin(), counts.end()) - counts.begin();
    const bool pure = counts[value_[p.node]] == n;
    if (pure || n < o_.min_samples_split || n < 2 * o_.min_samples_leaf ||
        (o_.max_depth > 0 && p.depth >= o_.max_depth)) {
      continue;
    }
    Split split = best_split(data, labels, samples.data() + p.begin, n, counts);
    if (split.feature < 0) continue;
    const uint8_t* bins = data.bins.data() + split.feature * data.N;
    auto middle = std::stable_partition(samples.begin() + p.begin, samples.begin() + p.end,
                                        [&](int64_t i) { return bins[i] <= split.bin; });
    const int64_t mid = middle - samples.begin();
    feature_[p.node] = split.feature;
    threshold_[p.node] = data.thresholds[split.feature][split.bin];
    const int64_t l = add_node(), r = add_node();
    left_[p.node] = l;
    right_[p.node] = r;
    stack.push_back({r, mid, p.end, p.depth + 1});
    stack.push_back({l, p.begin, mid, p.depth + 1});
  }
}

torch::Tensor TreeLearner::predict(const torch::Tensor& x_in) const {
  if (feature_.empty()) throw std::runtime_error("decision_tree: predict before fit");
  auto x = x_in.to(torch::kFloat).contiguous();
  const int64_t N = x.size(0), D = x.size(1);
  auto out = torch::empty({N}, torch::kLong);
  const float* px = x.data_ptr<float>();
  int64_t* po = out.data_ptr<int64_t>();
  at::parallel_for(0, N, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      int64_t node = 0;
      while (feature_[node] >= 0) {
        const int64_t f = feature_[node];
        const float v = f < D ? px[i * D + f] : 0.0f;
        node = v <= threshold_[node] ? left_[node] : right_[node];
      }
      po[i] = value_[node];
    }
  });
  return out;
}

void TreeLearner::save(const std::string& path) const {
  nlohmann::json j = {{"format", "strata-decision-tree"}, {"version", 1},
                      {"n_features", D_},  {"n_classes", K_},
                      {"criterion", o_.criterion}, {"feature", feature_},
                      {"threshold", threshold_}, {"left", left_},
                      {"right", right_},   {"value", value_}};
  std::ofstream out(path);
  out << j.dump();
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the tree", path));
}

void TreeLearner::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: missing decision tree model", path));
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return InputError(fmt::format("{}: damaged decision tree model: {}", path, why));
  };
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "strata-decision-tree") {
    throw bad("not a strata-decision-tree JSON file");
  }
  try {
    D_ = j.at("n_features").get<int64_t>();
    K_ = j.at("n_classes").get<int64_t>();
    feature_ = j.at("feature").get<std::vector<int64_t>>();
    threshold_ = j.at("threshold").get<std::vector<float>>();
    left_ = j.at("left").get<std::vector<int64_t>>();
    right_ = j.at("right").get<std::vector<int64_t>>();
    value_ = j.at("value").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw bad(e.what());
  }
  const int64_t n = int64_t(feature_.size());
  if (n == 0 || int64_t(threshold_.size()) != n || int64_t(left_.size()) != n ||
      int64_t(right_.size()) != n || int64_t(value_.size()) != n) {
    throw bad("node arrays differ in length");
  }
  for (int64_t i = 0; i < n; ++i) {
    // Children always come after their parent, so a walk cannot loop.
    bool leaf = feature_[i] < 0;
    if (!leaf && (feature_[i] >= D_ || left_[i] <= i || right_[i] <= i || left_[i] >= n ||
                  right_[i] >= n)) {
      throw bad(fmt::format("node {} points outside the tree", i));
    }
    if (leaf && (value_[i] < 0 || value_[i] >= K_)) throw bad(fmt::format("leaf {} class", i));
  }
}

}  // namespace

void register_tree_learners(LearnerRegistry& r) {
  r.add("decision_tree", [](Params& p) {
    TreeOptions o;
    read_options(p, o);
    return std::unique_ptr<Learner>(new TreeLearner(o));
  });
}

}  // namespace strata::classic
