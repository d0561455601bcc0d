#include "core/metric_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/errors.h"

namespace strata::metrics {

const std::vector<MetricInfo>& all() {
  static const std::vector<MetricInfo> table = {
      {"acc", true, "mean", true},
      {"acc_norm", true, "mean", true},
      {"exact_match", true, "mean", true},
      {"perplexity", false, "perplexity", true},
      {"loss", false, "mean", false},
  };
  return table;
}

std::vector<std::string> task_metric_names() {
  std::vector<std::string> names;
  for (const auto& m : all()) {
    if (m.in_tasks) names.push_back(m.name);
  }
  return names;
}

const MetricInfo* find(const std::string& name) {
  for (const auto& m : all()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const MetricInfo& of_key(const std::string& key, const std::string& where) {
  const size_t slash = key.rfind('/');
  const std::string part = slash == std::string::npos ? key : key.substr(slash + 1);
  std::vector<std::string> names;
  for (const auto& m : all()) names.push_back(m.name);
  if (part.ends_with("_stderr") || part.find("_stderr,") != std::string::npos) {
    throw InputError(fmt::format("{}: '{}' is a standard error, not a metric to compare runs by", where, key));
  }
  const MetricInfo* best = nullptr;
  for (const auto& m : all()) {
    const bool match = part == m.name || part.starts_with(m.name + ",") || part.starts_with(m.name + "_");
    if (match && (best == nullptr || m.name.size() > best->name.size())) best = &m;
  }
  if (best == nullptr) {
    throw InputError(fmt::format("{}: '{}' names no known metric (known: {})", where, key, fmt::join(names, ", ")));
  }
  return *best;
}

bool better(const std::string& key, double a, double b, const std::string& where) {
  return of_key(key, where).higher_is_better ? a > b : a < b;
}

}  // namespace strata::metrics
