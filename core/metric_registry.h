#pragma once
// The metrics Strata reports, under the harness's names, each with the direction that is
// better and the aggregation a task uses for it by default. Task files (metric_list), the
// trainer (trainer.best_metric, early_stop) and results tables all read this one table;
// nothing guesses a direction from a metric's name.

#include <string>
#include <vector>

namespace strata::metrics {

struct MetricInfo {
  std::string name;         // "acc"
  bool higher_is_better;    // the harness's higher_is_better
  std::string aggregation;  // a task's default: "mean" or "perplexity"
  bool in_tasks;            // a task's metric_list may name it
};

// acc, acc_norm, exact_match (higher is better), perplexity and loss (lower is better).
const std::vector<MetricInfo>& all();
// The names a task's metric_list may use, in the table's order.
std::vector<std::string> task_metric_names();
// The entry named `name` exactly; nullptr when there is none.
const MetricInfo* find(const std::string& name);

// The metric a result key names: its last '/' part ("eval/validation/loss" -> loss), less a
// ",filter" or "_filter" suffix ("acc,none" -> acc, "exact_match_strict" -> exact_match),
// the longest known name first ("acc_norm"). An unknown metric, or a standard error
// ("acc_stderr"), is an InputError naming `where` and the known metrics.
const MetricInfo& of_key(const std::string& key, const std::string& where);

// Whether `a` is better than `b` under the metric of `key` (of_key's errors).
bool better(const std::string& key, double a, double b, const std::string& where);

}  // namespace strata::metrics
