#pragma once
// Try-and-error model selection, the design notes' loop made a component: a list of
// learners, each with a small grid of hyperparameters, each point fitted on the training
// split and scored on a held-out validation split; the table is printed and the best
// fitted model kept.
//
//   candidates:
//     - {type: random_forest, n_estimators: 100, max_depth: [10, 20]}
//     - {type: svm_rbf, C: [1, 10]}
//     - {type: decision_tree}
//
// A list value is a grid axis; a single value is fixed. Every point is checked when the
// config is read, so a bad hyperparameter is refused before anything is fitted.

#include <functional>

#include "models/classic/learner.h"

namespace strata::classic {

struct Candidate {
  std::string label;                 // "svm_rbf C=10 gamma=scale"
  std::unique_ptr<Learner> learner;  // unfitted until select()
};

// Expands `candidates:` into one unfitted learner per grid point.
std::vector<Candidate> read_candidates(config::Reader& r, const std::string& key = "candidates");

struct SelectionRow {
  std::string learner;
  std::string params;
  double validation_acc = 0;
  double fit_s = 0;
  double predict_s = 0;
};

struct Selection {
  std::vector<SelectionRow> table;
  size_t best = 0;
  std::unique_ptr<Learner> model;  // the best candidate, fitted on the training split
};

// Fits and scores each candidate in turn (calling `on_row` after each, for logs and
// metrics); ties go to the earlier candidate.
Selection select(std::vector<Candidate> candidates, const torch::Tensor& x_train,
                 const torch::Tensor& y_train, const torch::Tensor& x_val,
                 const torch::Tensor& y_val, int64_t num_classes, uint64_t seed,
                 const std::function<void(size_t, const SelectionRow&)>& on_row = {});

// The table as aligned text lines, the best row marked.
std::string format_table(const Selection& s);

}  // namespace strata::classic
