#include "models/rules/rules.h"

#include <fmt/format.h>
#include <muParser.h>

#include <algorithm>

#include "core/errors.h"

namespace strata::rules {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// muParser's '=' assigns to a variable; in a condition it is always a typo for '=='.
bool has_assignment(const std::string& e) {
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] != '=') continue;
    bool part_of_comparison = (i > 0 && std::string("<>!=").find(e[i - 1]) != std::string::npos) ||
                              (i + 1 < e.size() && e[i + 1] == '=');
    if (!part_of_comparison) return true;
  }
  return false;
}

}  // namespace

struct RuleClassifier::Impl {
  std::vector<std::string> names;
  std::vector<Rule> rules;
  std::string default_label;
  std::vector<int64_t> rule_class;  // class index of each rule, then of the default
  // The current example's features. The parsers hold pointers into it: it is sized once
  // and lives in the Impl, so moving the classifier never moves it.
  std::vector<double> values;
  std::vector<mu::Parser> parsers;  // one compiled condition per rule

  // Index of the first rule true for `row`, or rules.size().
  size_t decide(const float* row) {
    for (size_t j = 0; j < values.size(); ++j) values[j] = double(row[j]);
    for (size_t r = 0; r < parsers.size(); ++r) {
      if (parsers[r].Eval() != 0.0) return r;
    }
    return parsers.size();
  }
};

RuleClassifier::RuleClassifier(std::vector<std::string> feature_names, std::vector<Rule> rules,
                               std::string default_label, const std::vector<std::string>& classes,
                               const std::string& default_where)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.names = std::move(feature_names);
  m.rules = std::move(rules);
  m.default_label = std::move(default_label);
  m.values.assign(m.names.size(), 0.0);

  auto class_index = [&](const std::string& label, const std::string& where,
                         const std::string& what) {
    auto it = std::find(classes.begin(), classes.end(), label);
    if (it != classes.end()) return int64_t(it - classes.begin());
    std::string hint = config::closest(label, classes);
    throw InputError(fmt::format("{}: {}: unknown class '{}'{}; classes: {}", where, what, label,
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                 join(classes)));
  };

  for (size_t r = 0; r < m.rules.size(); ++r) {
    const Rule& rule = m.rules[r];
    const std::string what = fmt::format("rule {} ('{}')", r + 1, rule.condition);
    m.rule_class.push_back(class_index(rule.label, rule.where, fmt::format("rule {}", r + 1)));
    if (has_assignment(rule.condition)) {
      throw InputError(fmt::format("{}: {}: '=' assigns; compare with '=='", rule.where, what));
    }
    mu::Parser parser;
    try {
      for (size_t j = 0; j < m.names.size(); ++j) parser.DefineVar(m.names[j], &m.values[j]);
      parser.SetExpr(rule.condition);
      parser.Eval();  // parses now, so errors surface when the config is read
      if (parser.GetNumResults() != 1) {
        throw InputError(fmt::format("{}: {}: a condition is one expression, without commas",
                                     rule.where, what));
      }
    } catch (const mu::Parser::exception_type& e) {
      if (e.GetCode() == mu::ecUNASSIGNABLE_TOKEN || e.GetCode() == mu::ecUNEXPECTED_VAR) {
        std::string token = e.GetToken();
        std::string hint = config::closest(token, m.names);
        throw InputError(fmt::format(
            "{}: {}: unknown feature '{}'{}; features: {}", rule.where, what, token,
            hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), join(m.names)));
      }
      throw InputError(fmt::format("{}: {}: does not parse: {}", rule.where, what, e.GetMsg()));
    }
    m.parsers.push_back(std::move(parser));
  }
  m.rule_class.push_back(class_index(m.default_label, default_where, "default"));
}

RuleClassifier::~RuleClassifier() = default;
RuleClassifier::RuleClassifier(RuleClassifier&&) noexcept = default;
RuleClassifier& RuleClassifier::operator=(RuleClassifier&&) noexcept = default;

torch::Tensor RuleClassifier::decided_by(const torch::Tensor& features) const {
  auto x = features.to(torch::kFloat).contiguous();
  if (x.dim() != 2 || x.size(1) != int64_t(impl_->names.size())) {
    throw std::runtime_error(fmt::format("rules: expected {} feature columns, got {}",
                                         impl_->names.size(), x.dim() == 2 ? x.size(1) : -1));
  }
  const int64_t N = x.size(0), D = x.size(1);
  auto out = torch::empty({N}, torch::kLong);
  const float* px = x.data_ptr<float>();
  int64_t* po = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i) po[i] = int64_t(impl_->decide(px + i * D));
  return out;
}

torch::Tensor RuleClassifier::predict(const torch::Tensor& features) const {
  auto rule_class = torch::tensor(impl_->rule_class, torch::kLong);
  return rule_class.index_select(0, decided_by(features));
}

const std::vector<Rule>& RuleClassifier::rules() const { return impl_->rules; }
const std::string& RuleClassifier::default_label() const { return impl_->default_label; }

RuleClassifier read_rules(config::Reader& model, const std::vector<std::string>& feature_names,
                          const std::vector<std::string>& classes) {
  std::vector<Rule> rules;
  for (auto& item : model.children("rules")) {
    Rule rule;
    item.require("if");
    item.require("then");
    item.read("if", rule.condition);
    item.read("then", rule.label);
    rule.where = item.where("if");
    item.finish();
    rules.push_back(rule);
  }
  model.require("default");
  std::string default_label;
  model.read("default", default_label);
  return RuleClassifier(feature_names, std::move(rules), default_label, classes,
                        model.where("default"));
}

std::string class_means_table(const torch::Tensor& features, const torch::Tensor& labels,
                              const std::vector<std::string>& feature_names,
                              const std::vector<std::string>& classes) {
  const int64_t K = int64_t(classes.size());
  auto x = features.to(torch::kDouble);
  std::vector<torch::Tensor> means;
  for (int64_t c = 0; c < K; ++c) {
    auto rows = x.index_select(0, (labels == c).nonzero().squeeze(1));
    means.push_back(rows.size(0) ? rows.mean(0) : torch::full({x.size(1)}, NAN, torch::kDouble));
  }
  auto table = torch::stack(means, 1);  // [D, K]
  std::string out = fmt::format("{:<14}", "feature");
  for (const auto& c : classes) out += fmt::format(" {:>11.11}", c);
  out += "\n";
  for (size_t j = 0; j < feature_names.size(); ++j) {
    out += fmt::format("{:<14}", feature_names[j]);
    for (int64_t c = 0; c < K; ++c) out += fmt::format(" {:>11.3f}", table[j][c].item<double>());
    out += "\n";
  }
  return out;
}

}  // namespace strata::rules
