#include "models/classic/learner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "core/errors.h"

namespace strata::classic {

// ---- Params ---------------------------------------------------------------------------

void Params::read_choice(const std::string& key, std::string& out,
                         const std::vector<std::string>& choices) {
  read(key, out);
  if (std::find(choices.begin(), choices.end(), out) == choices.end()) {
    std::string valid;
    for (const auto& c : choices) valid += (valid.empty() ? "" : ", ") + c;
    std::string hint = config::closest(out, choices);
    fail(key, fmt::format("must be one of {}, got '{}'{}", valid, out,
                          hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint)));
  }
}

void Params::fail(const std::string& key, const std::string& message) const {
  throw InputError(fmt::format("{}: '{}' {}", where(key), key, message));
}

void ConfigParams::read(const std::string& key, double& out, config::Range range) {
  r_.read(key, out, range);
}
void ConfigParams::read(const std::string& key, int64_t& out, config::Range range) {
  r_.read(key, out, range);
}
void ConfigParams::read(const std::string& key, bool& out) { r_.read(key, out); }
void ConfigParams::read(const std::string& key, std::string& out) { r_.read(key, out); }

const std::string* GridPoint::find(const std::string& key) {
  known_.push_back(key);
  used_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

void GridPoint::check(const std::string& key, double v, const config::Range& range) const {
  if (range.min && (range.min_exclusive ? !(v > *range.min) : !(v >= *range.min))) {
    fail(key, fmt::format("must be {} {}, got {}", range.min_exclusive ? ">" : ">=", *range.min, v));
  }
  if (range.max && !(v <= *range.max)) fail(key, fmt::format("must be <= {}, got {}", *range.max, v));
}

void GridPoint::read(const std::string& key, double& out, config::Range range) {
  if (const auto* text = find(key)) {
    char* end = nullptr;
    double v = std::strtod(text->c_str(), &end);
    if (text->empty() || *end != '\0') fail(key, fmt::format("must be a number, got '{}'", *text));
    out = v;
  }
  check(key, out, range);
}

void GridPoint::read(const std::string& key, int64_t& out, config::Range range) {
  if (const auto* text = find(key)) {
    char* end = nullptr;
    long long v = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0') fail(key, fmt::format("must be an integer, got '{}'", *text));
    out = v;
  }
  check(key, double(out), range);
}

void GridPoint::read(const std::string& key, bool& out) {
  if (const auto* text = find(key)) {
    if (*text == "true") {
      out = true;
    } else if (*text == "false") {
      out = false;
    } else {
      fail(key, fmt::format("must be true or false, got '{}'", *text));
    }
  }
}

void GridPoint::read(const std::string& key, std::string& out) {
  if (const auto* text = find(key)) out = *text;
}

void GridPoint::finish() {
  for (const auto& [key, _] : values_) {
    if (used_.count(key)) continue;
    std::string hint = config::closest(key, known_);
    std::string valid;
    for (const auto& k : known_) valid += (valid.empty() ? "" : ", ") + k;
    throw InputError(fmt::format("{}: unknown hyperparameter '{}'{}", where(key), key,
                                 hint.empty() ? fmt::format("; valid here: {}", valid)
                                              : fmt::format("; did you mean '{}'?", hint)));
  }
}

// ---- registry -------------------------------------------------------------------------

LearnerRegistry& learners() {
  static LearnerRegistry registry = [] {
    LearnerRegistry r("learner");
    register_svm_learners(r);
    register_linear_learners(r);
    register_xgboost_learners(r);
    register_tree_learners(r);
    return r;
  }();
  return registry;
}

std::unique_ptr<Learner> make_learner(config::Reader r) {
  r.require("type");
  std::string type;
  r.read("type", type);
  ConfigParams params(r);
  auto learner = learners().make(type, r.where("type"), params);
  params.finish();
  return learner;
}

std::string describe(const nlohmann::json& hyperparameters) {
  std::string out;
  for (auto it = hyperparameters.begin(); it != hyperparameters.end(); ++it) {
    std::string v = it->is_string() ? it->get<std::string>() : it->dump();
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", it.key(), v);
  }
  return out;
}

double accuracy(const torch::Tensor& predicted, const torch::Tensor& labels) {
  if (labels.numel() == 0) return 0.0;
  return predicted.eq(labels).to(torch::kDouble).mean().item<double>();
}

}  // namespace strata::classic
