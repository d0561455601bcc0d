#include "experiments/recommend.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "experiments/curve_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

namespace {

struct Rule {
  std::map<std::string, std::string> when;
  int stage = 0;
  std::string why;
};

struct Rules {
  std::map<std::string, std::vector<std::string>> values;
  std::map<int, std::pair<std::string, std::string>> stages;  // approach, start
  std::vector<Rule> rules;
};

Rules read_rules(const std::string& file) {
  config::Document doc = config::Document::load(file);
  auto root = doc.root();
  Rules out;
  config::Reader values = root.child("values");
  for (const char* key : {"data", "time", "task"}) {
    values.require(key);
    values.read(key, out.values[key]);
  }
  values.finish();
  config::Reader stages = root.child("stages");
  for (int stage = 1; stage <= 5; ++stage) {
    const std::string key = std::to_string(stage);
    stages.require(key);
    config::Reader s = stages.child(key);
    s.required("approach", out.stages[stage].first);
    s.required("start", out.stages[stage].second);
    s.finish();
  }
  stages.finish();
  root.require("rules");
  for (auto& r : root.children("rules")) {
    Rule rule;
    config::Reader when = r.child("when");
    for (const auto& key : when.keys()) {
      if (!out.values.count(key)) when.fail(key, "is not a condition (data, time or task)");
      when.read_choice(key, rule.when[key], out.values[key]);
    }
    when.finish();
    r.read("stage", rule.stage, config::Range::at_least(1));
    if (rule.stage > 5) r.fail("stage", "must be a stage of the notes, 1 to 5");
    r.required("why", rule.why);
    r.finish();
    out.rules.push_back(rule);
  }
  root.finish();
  if (out.rules.empty() || !out.rules.back().when.empty()) {
    root.fail("rules", "must end with a rule without conditions (the notes' fallback)");
  }
  return out;
}

double first_number(const json& cell) {
  if (!cell.is_string() || cell.get<std::string>().empty()) return NAN;
  try {
    return std::stod(cell.get<std::string>());
  } catch (const std::exception&) {
    return NAN;
  }
}

// The ladder's pick for this data and time: the most accurate row among those the query
// allows (data none: rows that used no labels; time immediate: rows with no training and
// no hand-written lines), by the all-labels column for abundant or structured data, else by
// the limited-labels column.
void measured_pick(const RecommendQuery& q, Recommendation& r) {
  const fs::path file = fs::path(q.ladder_dir) / "ladder.json";
  if (!fs::exists(file)) {
    throw InputError(fmt::format("--ladder: '{}' holds no ladder.json (a `strata ladder` out_dir)",
                                 q.ladder_dir));
  }
  const json ladder = read_json_file(file.string());
  const bool all = q.data == "abundant" || q.data == "structured";
  const std::string column = all ? "acc, all labels" : "acc, limited labels";
  double best = -1;
  for (const auto& row : ladder.value("table", json::array())) {
    const double acc = first_number(row.value("acc, all labels", json()));
    if (std::isnan(acc)) continue;  // not applicable
    const std::string labelled = row.value("labelled examples", "");
    if (q.data == "none" && labelled != "0") continue;
    if (q.time == "immediate" &&
        (row.value("train s", "") != "0" || row.value("hand-written lines", "") != "0")) {
      continue;
    }
    const double value = first_number(row.value(column, json()));
    if (value > best) {
      best = value;
      const std::string stage = row.value("stage", "");
      r.measured_stage = stage.empty() ? 0 : stage[0] - '0';
      r.measured = fmt::format("stage {} ({}): acc {:.4f} {}", stage, row.value("approach", ""), value,
                               all ? "with all labels"
                                   : fmt::format("with {} labels/class", ladder.value("labels_per_class", 0)));
    }
  }
  r.agrees = r.measured_stage == 0 || r.measured_stage == r.stage;
}

}  // namespace

Recommendation recommend(const RecommendQuery& q) {
  std::string file = q.rules_file;
  if (file.empty()) file = find_above(fs::current_path().string() + "/.", "configs/ladder/recommend.yaml");
  if (file.empty() || !fs::exists(file)) {
    throw InputError(fmt::format("recommend: rules file '{}' not found (--rules FILE)",
                                 file.empty() ? "configs/ladder/recommend.yaml" : file));
  }
  const Rules rules = read_rules(file);
  const std::map<std::string, std::string> given = {{"data", q.data}, {"time", q.time}, {"task", q.task}};
  for (const auto& [key, value] : given) {
    const auto& allowed = rules.values.at(key);
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      throw InputError(fmt::format("--{}: '{}' is not one of {}", key, value, fmt::join(allowed, ", ")));
    }
  }
  Recommendation r;
  for (size_t i = 0; i < rules.rules.size(); ++i) {
    const Rule& rule = rules.rules[i];
    const bool holds = std::all_of(rule.when.begin(), rule.when.end(),
                                   [&](const auto& kv) { return given.at(kv.first) == kv.second; });
    if (!holds) continue;
    r.stage = rule.stage;
    r.why = rule.why;
    r.rule = int(i + 1);
    r.approach = rules.stages.at(rule.stage).first;
    r.start = rules.stages.at(rule.stage).second;
    break;
  }
  if (!q.ladder_dir.empty()) measured_pick(q, r);
  return r;
}

std::string describe(const Recommendation& r, const RecommendQuery& q) {
  std::string out = fmt::format("stage {}: {}\nwhy: {} (rule {})\nstart: {}\n", r.stage, r.approach,
                                r.why, r.rule, r.start);
  if (q.ladder_dir.empty()) return out;
  if (r.measured_stage == 0) {
    return out + fmt::format("ladder {}: no measured row fits data '{}' and time '{}'\n", q.ladder_dir,
                             q.data, q.time);
  }
  return out + fmt::format("ladder {}: measured best is {}; {}\n", q.ladder_dir, r.measured,
                           r.agrees ? "it agrees with the notes"
                                    : fmt::format("it disagrees with the notes' stage {}", r.stage));
}

}  // namespace strata::experiments
