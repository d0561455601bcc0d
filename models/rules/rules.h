#pragma once
// Stage 1: rules a person writes, over features a person chose.
//
//   model:
//     type: rules
//     features: {type: image_measurements}
//     rules:                                  # tried in order; the first true one decides
//       - {if: "aspect > 2.2 && gap_bottom < 0.5", then: Trouser}
//       - {if: "height < 0.6", then: Sneaker}
//     default: Bag                            # when no rule is true
//
// A condition is a muParser expression (libmuparser-dev) over the features' names:
// arithmetic, comparisons (< <= > >= == !=), && and ||, functions such as abs() and min().
// Non-zero is true. A condition that does not parse, names an unknown feature, or assigns
// (a lone '=') is refused when the config is read, with the rule's file and line; so is a
// label that is not one of the dataset's classes.

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace strata::rules {

struct Rule {
  std::string condition;  // muParser expression
  std::string label;      // a class name
  std::string where;      // "fashion.yaml:12"
};

class RuleClassifier {
 public:
  // Compiles every condition against `feature_names`; refuses bad rules (InputError).
  RuleClassifier(std::vector<std::string> feature_names, std::vector<Rule> rules,
                 std::string default_label, const std::vector<std::string>& classes,
                 const std::string& default_where = "default");
  ~RuleClassifier();
  RuleClassifier(RuleClassifier&&) noexcept;
  RuleClassifier& operator=(RuleClassifier&&) noexcept;

  // features: float [N, D], columns in feature_names order -> int64 [N] class indices.
  torch::Tensor predict(const torch::Tensor& features) const;
  // Which rule decided each example: its index, or rules().size() for the default.
  torch::Tensor decided_by(const torch::Tensor& features) const;

  const std::vector<Rule>& rules() const;
  const std::string& default_label() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads `rules:` and `default:` from a model section (its `features:` is read elsewhere).
RuleClassifier read_rules(config::Reader& model, const std::vector<std::string>& feature_names,
                          const std::vector<std::string>& classes);

// The mean of each feature per class, as a text table (the measurements a person reads to
// write rules). features: float [N, D]; labels: int64 [N].
std::string class_means_table(const torch::Tensor& features, const torch::Tensor& labels,
                              const std::vector<std::string>& feature_names,
                              const std::vector<std::string>& classes);

}  // namespace strata::rules
