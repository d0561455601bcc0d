// decision_tree and random_forest: Strata's own CART classifier (Breiman, Friedman, Olshen
// and Stone 1984) and a forest of them (Breiman 2001, "Random Forests", Machine Learning
// 45), like scikit-learn's DecisionTreeClassifier and RandomForestClassifier.
//
// A tree's splits are binary, `feature <= threshold`, chosen by Gini impurity or entropy
// over all classes at once; a tree grows depth-first until its nodes are pure, too small or
// too deep. A forest grows n_estimators trees, each on a bootstrap sample of the training
// set (N draws with replacement; an example drawn k times has weight k) and each split
// choosing among max_features features drawn at random for that node, and predicts the
// class with the highest mean of its trees' leaf class shares (scikit-learn's
// predict_proba). As in scikit-learn, features found constant in a node count towards
// max_features, and the draw goes on past max_features until one feature that is not
// constant has been tried.
//
// Why not XGBoost: its multi-class trees are K regression trees fitted to softmax
// gradients, not one tree whose leaves name a class; a decision tree a person can read is
// what the design notes' try-and-error loop compares, and XGBoost's forest of K x 100
// regression trees took 653 s on Fashion-MNIST where scikit-learn's forest took 49 s.
// XGBoost's forest stays reachable as `xgboost_rf` (models/classic/xgboost.cpp).
//
// Candidate thresholds are the midpoints between a feature's distinct training values, or,
// when there are more than max_bins of them, max_bins quantiles. Examples are binned once
// (uint8, feature-major, shared by all trees), and a node's best split on a feature comes
// from its examples' class counts per bin: a dense histogram for large nodes, the examples
// sorted by bin for small ones. Histogram subtraction (a child's histogram as its parent's
// minus its sibling's) does not apply here: each node of a forest tree draws its own
// features, so a parent's histograms are rarely the ones its children need.
//
// Threads: a forest's trees go to std::threads (models/classic/threads.h), one tree per
// thread at a time; a single decision tree spreads the features of its large nodes over
// them. Each tree's bootstrap sample and feature draws come from splitmix64 of (seed, tree
// index), so a forest is the same for a given seed whatever the thread count.
//
// model.json, decision_tree: {"format": "strata-decision-tree", "n_features", "n_classes",
// "feature", "threshold", "left", "right", "value"}: per node; a leaf has feature -1 and
// value = its class. random_forest: {"format": "strata-random-forest", "n_features",
// "n_classes", "trees": [...]}, each tree those five arrays plus "proba_node" (the leaves
// whose examples are not all of one class) and "proba" (their class shares, n_classes per
// such leaf, flattened); every other leaf's share is 1 for its value.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/errors.h"
#include "core/hash.h"
#include "models/classic/learner.h"
#include "models/classic/threads.h"

namespace strata::classic {

namespace {

// ---- options --------------------------------------------------------------------------

struct TreeOptions {
  int64_t max_depth = 0;  // 0: no limit
  int64_t min_samples_split = 2;
  int64_t min_samples_leaf = 1;
  std::string criterion = "gini";  // gini | entropy
  int64_t max_bins = 256;
};

struct ForestOptions {
  TreeOptions tree;
  int64_t n_estimators = 100;
  std::string max_features = "sqrt";  // sqrt | log2 | a share of the features in (0, 1]
  bool bootstrap = true;
};

void read_options(Params& p, TreeOptions& o) {
  p.read("max_depth", o.max_depth, config::Range::non_negative());
  p.read("min_samples_split", o.min_samples_split, config::Range::at_least(2));
  p.read("min_samples_leaf", o.min_samples_leaf, config::Range::at_least(1));
  p.read_choice("criterion", o.criterion, {"gini", "entropy"});
  p.read("max_bins", o.max_bins, config::Range::between(2, 256));
}

// The share in (0, 1] that max_features names, or 0 for sqrt and log2; -1 if malformed.
double max_features_share(const std::string& text) {
  if (text == "sqrt" || text == "log2") return 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0 && v <= 1)) return -1;
  return v;
}

void read_options(Params& p, ForestOptions& o) {
  p.read("n_estimators", o.n_estimators, config::Range::at_least(1));
  read_options(p, o.tree);
  p.read("max_features", o.max_features);
  if (max_features_share(o.max_features) < 0) {
    p.fail("max_features",
           fmt::format("must be sqrt, log2 or a share of the features in (0, 1], got '{}'",
                       o.max_features));
  }
  p.read("bootstrap", o.bootstrap);
}

// Features tried per node for D features, as scikit-learn counts them.
int64_t features_per_node(const std::string& max_features, int64_t D) {
  double v;
  if (max_features == "sqrt") {
    v = std::sqrt(double(D));
  } else if (max_features == "log2") {
    v = std::log2(double(D));
  } else {
    v = max_features_share(max_features) * double(D);
  }
  return std::clamp<int64_t>(int64_t(v), 1, std::max<int64_t>(D, 1));
}

// ---- binned training data --------------------------------------------------------------

// Examples binned per feature: bins[f * N + i] = number of thresholds of f below x[i, f].
struct BinnedData {
  int64_t N = 0, D = 0;
  std::vector<uint8_t> bins;
  std::vector<std::vector<float>> thresholds;  // per feature, increasing
};

// One feature's thresholds from its N values. The distinct values are collected into a
// small sorted set, which suffices for pixels and other features with few distinct values;
// only a feature with more than max_bins of them is sorted whole, for its quantiles.
std::vector<float> feature_thresholds(const std::vector<float>& column, int64_t max_bins) {
  std::vector<float> distinct;
  distinct.reserve(size_t(max_bins) + 1);
  float last = 0;
  bool any = false;
  for (float v : column) {
    if (any && v == last) continue;
    any = true;
    last = v;
    auto at = std::lower_bound(distinct.begin(), distinct.end(), v);
    if (at != distinct.end() && *at == v) continue;
    distinct.insert(at, v);
    if (int64_t(distinct.size()) > max_bins) break;
  }
  std::vector<float> t;
  if (int64_t(distinct.size()) <= max_bins) {
    for (size_t i = 0; i + 1 < distinct.size(); ++i) {
      t.push_back(distinct[i] + (distinct[i + 1] - distinct[i]) / 2);
    }
    return t;
  }
  std::vector<float> sorted = column;
  std::sort(sorted.begin(), sorted.end());
  const int64_t N = int64_t(sorted.size());
  for (int64_t q = 1; q < max_bins; ++q) {
    float v = sorted[q * N / max_bins];
    if (v < sorted.back() && (t.empty() || v > t.back())) t.push_back(v);
  }
  return t;
}

BinnedData bin_features(const torch::Tensor& x_in, int64_t max_bins) {
  auto x = x_in.to(torch::kFloat).contiguous();
  BinnedData b;
  b.N = x.size(0);
  b.D = x.size(1);
  b.bins.resize(size_t(b.N * b.D));
  b.thresholds.resize(b.D);
  const float* px = x.data_ptr<float>();
  // Blocks of features, dealt round-robin to the workers; a block's columns are copied
  // out of the row-major matrix together, a cache line of each row at a time.
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (b.D + kBlock - 1) / kBlock;
  const int workers = int(std::clamp<int64_t>(at::get_num_threads(), 1, std::max<int64_t>(blocks, 1)));
  run_workers(workers, [&](int w) {
    std::vector<std::vector<float>> columns(kBlock, std::vector<float>(size_t(b.N)));
    for (int64_t block = w; block < blocks; block += workers) {
      const int64_t f0 = block * kBlock, f1 = std::min(b.D, f0 + kBlock);
      for (int64_t i = 0; i < b.N; ++i) {
        const float* row = px + i * b.D;
        for (int64_t f = f0; f < f1; ++f) columns[f - f0][i] = row[f];
      }
      for (int64_t f = f0; f < f1; ++f) {
        const auto& column = columns[f - f0];
        const auto& t = b.thresholds[f] = feature_thresholds(column, max_bins);
        uint8_t* out = b.bins.data() + f * b.N;
        for (int64_t i = 0; i < b.N; ++i) {
          out[i] = uint8_t(std::lower_bound(t.begin(), t.end(), column[i]) - t.begin());
        }
      }
    }
  });
  return b;
}

// ---- trees -----------------------------------------------------------------------------

struct Node {
  int32_t feature = -1;  // -1: a leaf
  float threshold = 0;   // left: x[feature] <= threshold
  int32_t left = -1, right = -1;
  int32_t value = 0;     // the majority class (the first of equals)
  int32_t shares = -1;   // a leaf with more than one class: its shares at proba[shares * K]
};

struct Tree {
  std::vector<Node> nodes;
  std::vector<float> proba;

  int32_t add_node() {
    nodes.emplace_back();
    return int32_t(nodes.size()) - 1;
  }
  const Node& leaf_of(const float* x, int64_t D) const {
    const Node* n = nodes.data();
    while (n->feature >= 0) {
      const float v = n->feature < D ? x[n->feature] : 0.0f;
      n = nodes.data() + (v <= n->threshold ? n->left : n->right);
    }
    return *n;
  }
};

// splitmix64's sequence; numbers below n by Lemire's multiply-shift (a bias under n / 2^64).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return splitmix64(state_);
  }
  uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }

 private:
  uint64_t state_;
};

// A node's training example: its index and weight (1, or its bootstrap count).
struct Row {
  int32_t id;
  int32_t label;
  int32_t weight;
};

struct GrowOptions {
  int64_t max_depth = 0, min_samples_split = 2, min_samples_leaf = 1;
  bool entropy = false;
  int64_t max_features = 0;  // features tried per node; >= D: all of them
  bool leaf_shares = false;  // keep impure leaves' class shares (forests)
  int threads = 1;           // spread a node's features over threads (a single tree)
};

// A split candidate: left is bin <= `bin`. Higher scores are better; equal scores go to
// the lower feature, so the result does not depend on the order features are tried in.
struct Candidate {
  double score = -std::numeric_limits<double>::infinity();
  int32_t feature = -1;
  int32_t bin = -1;
  bool beats(const Candidate& o) const {
    return score > o.score || (score == o.score && feature >= 0 && feature < o.feature);
  }
};

// Grows trees on binned data, one at a time; its scratch space is reused across trees.
class Grower {
 public:
  Grower(const BinnedData& data, const std::vector<int32_t>& labels, int64_t K,
         const GrowOptions& o)
      : data_(data), labels_(labels), K_(K), o_(o), totals_(K), partition_(size_t(data.N)) {}

  // rows: the training examples with their weights (reordered in place).
  Tree grow(std::vector<Row>& rows, uint64_t seed);

 private:
  struct Scratch {
    explicit Scratch(int64_t K) : hist(256 * K), count(256), left(K), right(K) {}
    std::vector<int32_t> hist, count;  // [bin, class] weights; [bin] rows
    std::vector<uint64_t> keys;        // bin << 56 | class << 32 | weight, for small nodes
    std::vector<int64_t> left, right;  // class weights either side
  };
  // Best split of rows[0, n) on feature f into `best` if it beats it; false when f is
  // constant on the rows.
  bool evaluate(Scratch& s, int32_t f, const Row* rows, int64_t n, Candidate& best) const;
  // Tries features of F[known, D) (F[0, known) are constant on the rows, as an ancestor
  // found); returns the count of known constants for the children, now F[0, that).
  int64_t find_split(const Row* rows, int64_t n, int64_t known, std::vector<int32_t>& F,
                     Rng& rng, Candidate& best);

  const BinnedData& data_;
  const std::vector<int32_t>& labels_;
  const int64_t K_;
  const GrowOptions o_;
  std::vector<int64_t> totals_;  // the node's class weights
  int64_t total_ = 0;            // their sum
  std::vector<Row> partition_;
  std::vector<Scratch> scratch_;
};

// Score of a split from the two sides' class weights; higher is better. Gini:
// sum_c l_c^2 / w_l + sum_c r_c^2 / w_r (the children's weighted impurity up to a constant,
// negated). Entropy: sum_c l_c ln(l_c / w_l) + sum_c r_c ln(r_c / w_r) (minus the
// children's weighted entropy). Both sides' sums are kept up to date as weight w of class
// c moves left, so each move costs O(1).
struct Sweep {
  bool entropy;
  int64_t* left;
  int64_t* right;
  int64_t w_left = 0, w_right = 0;
  int64_t sq_left = 0, sq_right = 0;      // Gini: sum of squared class weights
  double xlx_left = 0, xlx_right = 0;     // entropy: sum of w ln w over classes

  static double xlx(int64_t v) { return v > 0 ? double(v) * std::log(double(v)) : 0.0; }

  void start(const int64_t* totals, int64_t K, int64_t total) {
    w_left = 0;
    w_right = total;
    sq_left = sq_right = 0;
    xlx_left = xlx_right = 0;
    for (int64_t c = 0; c < K; ++c) {
      left[c] = 0;
      right[c] = totals[c];
      if (entropy) {
        xlx_right += xlx(totals[c]);
      } else {
        sq_right += totals[c] * totals[c];
      }
    }
  }
  void move(int64_t c, int64_t w) {
    if (entropy) {
      xlx_left += xlx(left[c] + w) - xlx(left[c]);
      xlx_right += xlx(right[c] - w) - xlx(right[c]);
    } else {
      sq_left += w * (2 * left[c] + w);
      sq_right += w * (w - 2 * right[c]);
    }
    left[c] += w;
    right[c] -= w;
    w_left += w;
    w_right -= w;
  }
  double score() const {
    if (entropy) return xlx_left - xlx(w_left) + xlx_right - xlx(w_right);
    return double(sq_left) / double(w_left) + double(sq_right) / double(w_right);
  }
};

bool Grower::evaluate(Scratch& s, int32_t f, const Row* rows, int64_t n, Candidate& best) const {
  const int64_t nb = int64_t(data_.thresholds[f].size()) + 1;
  if (nb < 2) return false;
  const uint8_t* col = data_.bins.data() + int64_t(f) * data_.N;
  const int64_t msl = o_.min_samples_leaf;
  Sweep sweep{o_.entropy, s.left.data(), s.right.data()};
  auto consider = [&](int64_t bin) {
    const Candidate c{sweep.score(), f, int32_t(bin)};
    if (c.beats(best)) best = c;
  };
  // Large nodes: a dense [bin, class] histogram, scanned bin by bin. Small ones: the rows'
  // (bin, class, weight) sorted, then swept row by row; cheaper than clearing and scanning
  // every bin when the node has fewer rows than the feature has bins.
  if (n * 2 >= nb * K_) {
    int32_t* hist = s.hist.data();
    int32_t* count = s.count.data();
    for (int64_t r = 0; r < n; ++r) {
      const int64_t b = col[rows[r].id];
      hist[b * K_ + rows[r].label] += rows[r].weight;
      ++count[b];
    }
    bool constant = false;
    sweep.start(totals_.data(), K_, total_);
    int64_t n_left = 0;
    for (int64_t b = 0; b < nb; ++b) {
      if (count[b] == 0) continue;
      if (n_left + count[b] == n) {  // the last occupied bin leaves nothing right
        constant = n_left == 0;
        break;
      }
      for (int64_t c = 0; c < K_; ++c) {
        if (hist[b * K_ + c] != 0) sweep.move(c, hist[b * K_ + c]);
      }
      n_left += count[b];
      if (n - n_left < msl) break;
      if (n_left >= msl) consider(b);
    }
    std::memset(hist, 0, sizeof(int32_t) * size_t(nb * K_));
    std::memset(count, 0, sizeof(int32_t) * size_t(nb));
    return !constant;
  }
  auto& keys = s.keys;
  keys.resize(size_t(n));
  for (int64_t r = 0; r < n; ++r) {
    keys[r] = uint64_t(col[rows[r].id]) << 56 | uint64_t(rows[r].label) << 32 |
              uint64_t(uint32_t(rows[r].weight));
  }
  std::sort(keys.begin(), keys.end());
  if (keys[0] >> 56 == keys[n - 1] >> 56) return false;
  sweep.start(totals_.data(), K_, total_);
  for (int64_t r = 0; r + 1 < n; ++r) {
    const uint64_t k = keys[r];
    sweep.move(int64_t(k >> 32 & 0xFFFFFF), int64_t(k & 0xFFFFFFFF));
    const int64_t n_left = r + 1;
    if (n - n_left < msl) break;
    if (k >> 56 != keys[r + 1] >> 56 && n_left >= msl) consider(int64_t(k >> 56));
  }
  return true;
}

int64_t Grower::find_split(const Row* rows, int64_t n, int64_t known, std::vector<int32_t>& F,
                           Rng& rng, Candidate& best) {
  const int64_t D = data_.D;
  if (scratch_.empty()) scratch_.emplace_back(K_);
  if (o_.max_features >= D) {
    // Every feature: no draws. Large nodes spread the features over the threads, each with
    // its own scratch; the constants found go to the front of the pool, in order.
    const int64_t pool = D - known;
    std::vector<char> constant(size_t(pool), 0);
    const int workers =
        int(o_.threads > 1 && n * pool >= (int64_t(1) << 20) ? std::min<int64_t>(o_.threads, pool)
                                                             : 1);
    while (int(scratch_.size()) < workers) scratch_.emplace_back(K_);
    std::vector<Candidate> found(static_cast<size_t>(workers));
    run_workers(workers, [&](int w) {
      for (int64_t j = w; j < pool; j += workers) {
        constant[j] = !evaluate(scratch_[w], F[known + j], rows, n, found[w]);
      }
    });
    for (const auto& c : found) {
      if (c.beats(best)) best = c;
    }
    std::vector<int32_t> reordered;
    for (int64_t j = 0; j < pool; ++j) {
      if (constant[j]) reordered.push_back(F[known + j]);
    }
    const int64_t found_constant = int64_t(reordered.size());
    for (int64_t j = 0; j < pool; ++j) {
      if (!constant[j]) reordered.push_back(F[known + j]);
    }
    std::copy(reordered.begin(), reordered.end(), F.begin() + known);
    return known + found_constant;
  }
  // Features drawn without replacement until max_features have been tried and one of them
  // was not constant. The pool: known constants not yet drawn (only counted, since trying
  // them would find nothing), then F[known, D): the constants found here go to
  // F[known, known + found), the features tried and not constant to the end, F[end, D).
  int64_t known_left = known, found = 0, end = D, tried = 0;
  bool splittable = false;
  for (;;) {
    const int64_t undrawn = known_left + (end - known - found);
    if (undrawn == 0 || (tried >= o_.max_features && splittable)) break;
    const int64_t r = int64_t(rng.below(uint64_t(undrawn)));
    ++tried;
    if (r < known_left) {
      --known_left;
      continue;
    }
    const int64_t at = known + found + (r - known_left);
    if (evaluate(scratch_[0], F[at], rows, n, best)) {
      splittable = true;
      std::swap(F[at], F[--end]);
    } else {
      std::swap(F[at], F[known + found++]);
    }
  }
  return known + found;
}

Tree Grower::grow(std::vector<Row>& rows, uint64_t seed) {
  Tree t;
  Rng rng(seed);
  std::vector<int32_t> F(size_t(data_.D));
  std::iota(F.begin(), F.end(), 0);
  struct Pending {
    int32_t node;
    int64_t begin, end, depth, known;
  };
  std::vector<Pending> stack = {{t.add_node(), 0, int64_t(rows.size()), 0, 0}};
  while (!stack.empty()) {
    const Pending p = stack.back();
    stack.pop_back();
    Row* r = rows.data() + p.begin;
    const int64_t n = p.end - p.begin;
    std::fill(totals_.begin(), totals_.end(), 0);
    for (int64_t i = 0; i < n; ++i) totals_[r[i].label] += r[i].weight;
    total_ = std::accumulate(totals_.begin(), totals_.end(), int64_t(0));
    const int32_t majority = int32_t(std::max_element(totals_.begin(), totals_.end()) - totals_.begin());
    const bool pure = totals_[majority] == total_;
    Candidate best;
    int64_t known = p.known;
    if (!(pure || n < o_.min_samples_split || n < 2 * o_.min_samples_leaf ||
          (o_.max_depth > 0 && p.depth >= o_.max_depth))) {
      known = find_split(r, n, p.known, F, rng, best);
    }
    Node& node = t.nodes[p.node];
    node.value = majority;
    if (best.feature < 0) {
      if (!pure && o_.leaf_shares) {
        node.shares = int32_t(t.proba.size() / K_);
        for (int64_t c = 0; c < K_; ++c) t.proba.push_back(float(double(totals_[c]) / double(total_)));
      }
      continue;
    }
    // Stable partition: left rows in place, right rows through the scratch buffer.
    const uint8_t* col = data_.bins.data() + int64_t(best.feature) * data_.N;
    int64_t n_left = 0, n_right = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (col[r[i].id] <= best.bin) {
        r[n_left++] = r[i];
      } else {
        partition_[n_right++] = r[i];
      }
    }
    std::copy(partition_.begin(), partition_.begin() + n_right, r + n_left);
    node.feature = best.feature;
    node.threshold = data_.thresholds[best.feature][best.bin];
    const int32_t left = t.add_node(), right = t.add_node();
    t.nodes[p.node].left = left;  // `node` may dangle after add_node
    t.nodes[p.node].right = right;
    stack.push_back({right, p.begin + n_left, p.end, p.depth + 1, known});
    stack.push_back({left, p.begin, p.begin + n_left, p.depth + 1, known});
  }
  return t;
}

std::vector<int32_t> checked_labels(const torch::Tensor& y, int64_t N, int64_t K,
                                    const std::string& who) {
  if (y.numel() != N) throw InputError(fmt::format("{}: {} labels for {} examples", who, y.numel(), N));
  if (N == 0) throw InputError(who + ": no training examples");
  if (K < 1 || K > (int64_t(1) << 24)) throw InputError(fmt::format("{}: {} classes", who, K));
  auto yl = y.to(torch::kLong).contiguous();
  const int64_t* py = yl.data_ptr<int64_t>();
  std::vector<int32_t> labels(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const int64_t v = py[i];
    if (v < 0 || v >= K) throw InputError(fmt::format("{}: label {} outside [0, {})", who, v, K));
    labels[i] = int32_t(v);
  }
  return labels;
}

// Runs per_chunk(lo, hi) over chunks of x's rows on the intra-op threads.
void over_row_chunks(int64_t N, const std::function<void(int64_t, int64_t)>& per_chunk) {
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (N + kChunk - 1) / kChunk;
  const int workers = int(std::clamp<int64_t>(at::get_num_threads(), 1, std::max<int64_t>(chunks, 1)));
  run_workers(workers, [&](int w) {
    for (int64_t c = w; c < chunks; c += workers) per_chunk(c * kChunk, std::min(N, (c + 1) * kChunk));
  });
}

// ---- model files -----------------------------------------------------------------------

nlohmann::json tree_json(const Tree& t, int64_t K, bool with_shares) {
  std::vector<int32_t> feature, left, right, value, proba_node;
  std::vector<float> threshold, proba;
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const Node& n = t.nodes[i];
    feature.push_back(n.feature);
    threshold.push_back(n.threshold);
    left.push_back(n.left);
    right.push_back(n.right);
    value.push_back(n.value);
    if (with_shares && n.shares >= 0) {
      proba_node.push_back(int32_t(i));
      proba.insert(proba.end(), t.proba.begin() + n.shares * K, t.proba.begin() + (n.shares + 1) * K);
    }
  }
  nlohmann::json j = {{"feature", feature}, {"threshold", threshold}, {"left", left},
                      {"right", right},     {"value", value}};
  if (with_shares) {
    j["proba_node"] = proba_node;
    j["proba"] = proba;
  }
  return j;
}

// A tree from its JSON arrays; `bad` makes the InputError for a damaged file.
template <typename Bad>
Tree tree_from_json(const nlohmann::json& j, int64_t D, int64_t K, bool with_shares,
                    const Bad& bad) {
  std::vector<int32_t> feature, left, right, value, proba_node;
  std::vector<float> threshold, proba;
  try {
    feature = j.at("feature").get<std::vector<int32_t>>();
    threshold = j.at("threshold").get<std::vector<float>>();
    left = j.at("left").get<std::vector<int32_t>>();
    right = j.at("right").get<std::vector<int32_t>>();
    value = j.at("value").get<std::vector<int32_t>>();
    if (with_shares) {
      proba_node = j.at("proba_node").get<std::vector<int32_t>>();
      proba = j.at("proba").get<std::vector<float>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(e.what());
  }
  const int64_t n = int64_t(feature.size());
  if (n == 0 || int64_t(threshold.size()) != n || int64_t(left.size()) != n ||
      int64_t(right.size()) != n || int64_t(value.size()) != n) {
    throw bad("node arrays differ in length");
  }
  Tree t;
  t.nodes.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    // Children always come after their parent, so a walk cannot loop.
    const bool leaf = feature[i] < 0;
    if (!leaf && (feature[i] >= D || left[i] <= i || right[i] <= i || left[i] >= n ||
                  right[i] >= n)) {
      throw bad(fmt::format("node {} points outside the tree", i));
    }
    if (leaf && (value[i] < 0 || value[i] >= K)) throw bad(fmt::format("leaf {} class", i));
    t.nodes[i] = {leaf ? -1 : feature[i], threshold[i], left[i], right[i], value[i], -1};
  }
  if (int64_t(proba.size()) != int64_t(proba_node.size()) * K) {
    throw bad("proba does not hold n_classes shares per proba_node");
  }
  for (size_t k = 0; k < proba_node.size(); ++k) {
    const int64_t i = proba_node[k];
    if (i < 0 || i >= n || t.nodes[i].feature >= 0 || t.nodes[i].shares >= 0) {
      throw bad(fmt::format("proba_node {} is not a leaf", i));
    }
    t.nodes[i].shares = int32_t(k);
  }
  for (float p : proba) {
    if (!(p >= 0 && p <= 1)) throw bad("a class share outside [0, 1]");
  }
  t.proba = std::move(proba);
  return t;
}

void write_json(const nlohmann::json& j, const std::string& path, const std::string& what) {
  std::ofstream out(path);
  out << j.dump();
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the {}", path, what));
}

// The model file's JSON object with the given format, or an InputError naming the file.
nlohmann::json read_json(const std::string& path, const std::string& format,
                         const std::string& what) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: missing {} model", path, what));
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != format) {
    throw InputError(
        fmt::format("{}: damaged {} model: not a {} JSON file", path, what, format));
  }
  return j;
}

// ---- decision_tree ---------------------------------------------------------------------

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
           uint64_t seed) override {
    K_ = num_classes;
    D_ = x.size(1);
    const BinnedData data = bin_features(x, o_.max_bins);
    const auto labels = checked_labels(y, data.N, K_, "decision_tree");
    GrowOptions g;
    g.max_depth = o_.max_depth;
    g.min_samples_split = o_.min_samples_split;
    g.min_samples_leaf = o_.min_samples_leaf;
    g.entropy = o_.criterion == "entropy";
    g.max_features = data.D;  // every feature at every node: the seed changes nothing
    g.threads = at::get_num_threads();
    std::vector<Row> rows(size_t(data.N));
    for (int64_t i = 0; i < data.N; ++i) rows[i] = {int32_t(i), labels[i], 1};
    tree_ = Grower(data, labels, K_, g).grow(rows, seed);
  }

  torch::Tensor predict(const torch::Tensor& x_in) const override {
    if (tree_.nodes.empty()) throw std::runtime_error("decision_tree: predict before fit");
    auto x = x_in.to(torch::kFloat).contiguous();
    const int64_t N = x.size(0), D = x.size(1);
    auto out = torch::empty({N}, torch::kLong);
    const float* px = x.data_ptr<float>();
    int64_t* po = out.data_ptr<int64_t>();
    over_row_chunks(N, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = tree_.leaf_of(px + i * D, D).value;
    });
    return out;
  }

  void save(const std::string& path) const override {
    if (tree_.nodes.empty()) throw std::runtime_error("decision_tree: save before fit");
    auto j = tree_json(tree_, K_, /*with_shares=*/false);
    j["format"] = "strata-decision-tree";
    j["version"] = 1;
    j["n_features"] = D_;
    j["n_classes"] = K_;
    j["criterion"] = o_.criterion;
    write_json(j, path, "tree");
  }

  void load(const std::string& path) override {
    const auto j = read_json(path, "strata-decision-tree", "decision tree");
    auto bad = [&](const std::string& why) {
      return InputError(fmt::format("{}: damaged decision tree model: {}", path, why));
    };
    try {
      D_ = j.at("n_features").get<int64_t>();
      K_ = j.at("n_classes").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw bad(e.what());
    }
    tree_ = tree_from_json(j, D_, K_, /*with_shares=*/false, bad);
  }

 private:
  TreeOptions o_;
  int64_t K_ = 0, D_ = 0;
  Tree tree_;
};

// ---- random_forest ---------------------------------------------------------------------

class ForestLearner : public Learner {
 public:
  explicit ForestLearner(ForestOptions o) : o_(std::move(o)) {}

  std::string type() const override { return "random_forest"; }
  std::string format() const override { return "json"; }
  nlohmann::json hyperparameters() const override {
    return {{"n_estimators", o_.n_estimators},
            {"max_depth", o_.tree.max_depth},
            {"max_features", o_.max_features},
            {"min_samples_leaf", o_.tree.min_samples_leaf},
            {"criterion", o_.tree.criterion},
            {"bootstrap", o_.bootstrap}};
  }

  void fit(const torch::Tensor& x, const torch::Tensor& y, int64_t num_classes,
           uint64_t seed) override {
    K_ = num_classes;
    D_ = x.size(1);
    const BinnedData data = bin_features(x, o_.tree.max_bins);
    const auto labels = checked_labels(y, data.N, K_, "random_forest");
    GrowOptions g;
    g.max_depth = o_.tree.max_depth;
    g.min_samples_split = o_.tree.min_samples_split;
    g.min_samples_leaf = o_.tree.min_samples_leaf;
    g.entropy = o_.tree.criterion == "entropy";
    g.max_features = features_per_node(o_.max_features, data.D);
    g.leaf_shares = true;
    const int64_t T = o_.n_estimators, N = data.N;
    trees_.assign(size_t(T), Tree());
    // Trees go to the workers as they come free; each tree's randomness is its own, so
    // which worker grows it does not matter.
    std::atomic<int64_t> next{0};
    const int workers = int(std::clamp<int64_t>(at::get_num_threads(), 1, T));
    run_workers(workers, [&](int) {
      Grower grower(data, labels, K_, g);
      std::vector<int32_t> draws(static_cast<size_t>(N));
      std::vector<Row> rows;
      for (int64_t t; (t = next++) < T;) {
        Rng rng(splitmix64(splitmix64(seed) + uint64_t(t)));
        rows.clear();
        if (o_.bootstrap) {
          std::fill(draws.begin(), draws.end(), 0);
          for (int64_t k = 0; k < N; ++k) ++draws[rng.below(uint64_t(N))];
          for (int64_t i = 0; i < N; ++i) {
            if (draws[i] > 0) rows.push_back({int32_t(i), labels[i], draws[i]});
          }
        } else {
          for (int64_t i = 0; i < N; ++i) rows.push_back({int32_t(i), labels[i], 1});
        }
        trees_[t] = grower.grow(rows, rng.next());
      }
    });
  }

  torch::Tensor predict(const torch::Tensor& x_in) const override {
    if (trees_.empty()) throw std::runtime_error("random_forest: predict before fit");
    auto x = x_in.to(torch::kFloat).contiguous();
    const int64_t N = x.size(0), D = x.size(1), K = K_;
    auto out = torch::empty({N}, torch::kLong);
    const float* px = x.data_ptr<float>();
    int64_t* po = out.data_ptr<int64_t>();
    // Per chunk of rows, tree by tree (one tree's nodes stay in cache for the chunk); the
    // class shares summed in tree order, so the result does not depend on the threads.
    over_row_chunks(N, [&](int64_t lo, int64_t hi) {
      std::vector<float> sum(size_t((hi - lo) * K), 0.0f);
      for (const Tree& t : trees_) {
        for (int64_t i = lo; i < hi; ++i) {
          const Node& leaf = t.leaf_of(px + i * D, D);
          float* s = sum.data() + (i - lo) * K;
          if (leaf.shares < 0) {
            s[leaf.value] += 1.0f;
          } else {
            const float* p = t.proba.data() + int64_t(leaf.shares) * K;
            for (int64_t c = 0; c < K; ++c) s[c] += p[c];
          }
        }
      }
      for (int64_t i = lo; i < hi; ++i) {
        const float* s = sum.data() + (i - lo) * K;
        po[i] = std::max_element(s, s + K) - s;
      }
    });
    return out;
  }

  void save(const std::string& path) const override {
    if (trees_.empty()) throw std::runtime_error("random_forest: save before fit");
    nlohmann::json trees = nlohmann::json::array();
    for (const auto& t : trees_) trees.push_back(tree_json(t, K_, /*with_shares=*/true));
    nlohmann::json j = {{"format", "strata-random-forest"}, {"version", 1},
                        {"n_features", D_},
                        {"n_classes", K_},
                        {"criterion", o_.tree.criterion},
                        {"trees", std::move(trees)}};
    write_json(j, path, "forest");
  }

  void load(const std::string& path) override {
    const auto j = read_json(path, "strata-random-forest", "random forest");
    auto bad = [&](const std::string& why) {
      return InputError(fmt::format("{}: damaged random forest model: {}", path, why));
    };
    std::vector<Tree> trees;
    try {
      D_ = j.at("n_features").get<int64_t>();
      K_ = j.at("n_classes").get<int64_t>();
      const auto& list = j.at("trees");
      if (!list.is_array() || list.empty()) throw bad("no trees");
      for (const auto& t : list) trees.push_back(tree_from_json(t, D_, K_, true, bad));
    } catch (const nlohmann::json::exception& e) {
      throw bad(e.what());
    }
    trees_ = std::move(trees);
  }

 private:
  ForestOptions o_;
  int64_t K_ = 0, D_ = 0;
  std::vector<Tree> trees_;
};

}  // namespace

void register_tree_learners(LearnerRegistry& r) {
  r.add("decision_tree", [](Params& p) {
    TreeOptions o;
    read_options(p, o);
    return std::unique_ptr<Learner>(new TreeLearner(o));
  });
  r.add("random_forest", [](Params& p) {
    ForestOptions o;
    read_options(p, o);
    return std::unique_ptr<Learner>(new ForestLearner(o));
  });
}

}  // namespace strata::classic
