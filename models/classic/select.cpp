#include "models/classic/select.h"

#include <fmt/format.h>

#include <chrono>

#include "core/clock.h"
#include "core/errors.h"

namespace strata::classic {

std::vector<Candidate> read_candidates(config::Reader& r, const std::string& key) {
  auto items = r.children(key);
  if (items.empty()) r.fail(key, "must list at least one learner to try");
  std::vector<Candidate> out;
  for (auto& item : items) {
    item.require("type");
    std::string type;
    item.read("type", type);
    // Each other key is one axis of the grid (a single value: an axis of one point).
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const auto& k : item.keys()) {
      if (k == "type") continue;
      std::vector<std::string> values;
      item.read(k, values);
      if (values.empty()) item.fail(k, "must hold at least one value");
      axes.emplace_back(k, values);
    }
    // The Cartesian product, last axis fastest.
    std::vector<size_t> at(axes.size(), 0);
    while (true) {
      std::map<std::string, std::string> point;
      for (size_t a = 0; a < axes.size(); ++a) point[axes[a].first] = axes[a].second[at[a]];
      GridPoint params(point, item);
      auto learner = learners().make(type, item.where("type"), params);
      params.finish();
      std::string label = type;
      std::string hp = describe(learner->hyperparameters());
      if (!hp.empty()) label += " " + hp;
      out.push_back({label, std::move(learner)});
      size_t a = axes.size();
      while (a > 0 && ++at[a - 1] == axes[a - 1].second.size()) at[--a] = 0;
      if (a == 0) break;
    }
  }
  return out;
}

Selection select(std::vector<Candidate> candidates, const torch::Tensor& x_train,
                 const torch::Tensor& y_train, const torch::Tensor& x_val,
                 const torch::Tensor& y_val, int64_t num_classes, uint64_t seed,
                 const std::function<void(size_t, const SelectionRow&)>& on_row) {
  if (candidates.empty()) throw InputError("model selection: no candidates");
  if (y_val.numel() == 0) throw InputError("model selection needs a validation split (data.validation > 0)");
  Selection s;
  double best_acc = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto& c = candidates[i];
    SelectionRow row;
    row.learner = c.learner->type();
    row.params = describe(c.learner->hyperparameters());
    auto t0 = std::chrono::steady_clock::now();
    c.learner->fit(x_train, y_train, num_classes, seed);
    row.fit_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    row.validation_acc = accuracy(c.learner->predict(x_val), y_val);
    row.predict_s = seconds_since(t0);
    s.table.push_back(row);
    if (on_row) on_row(i, row);
    if (row.validation_acc > best_acc) {
      best_acc = row.validation_acc;
      s.best = i;
      s.model = std::move(c.learner);  // earlier best models are released here
    } else {
      c.learner.reset();
    }
  }
  return s;
}

std::string format_table(const Selection& s) {
  size_t w_learner = 7, w_params = 15;
  for (const auto& r : s.table) {
    w_learner = std::max(w_learner, r.learner.size());
    w_params = std::max(w_params, r.params.size());
  }
  std::string out = fmt::format("  {:<{}}  {:<{}}  {:>8}  {:>8}  {:>9}\n", "learner", w_learner,
                                "hyperparameters", w_params, "val acc", "fit s", "predict s");
  for (size_t i = 0; i < s.table.size(); ++i) {
    const auto& r = s.table[i];
    out += fmt::format("{} {:<{}}  {:<{}}  {:>8.4f}  {:>8.1f}  {:>9.2f}\n", i == s.best ? "*" : " ",
                       r.learner, w_learner, r.params, w_params, r.validation_acc, r.fit_s,
                       r.predict_s);
  }
  return out;
}

}  // namespace strata::classic
