#include "experiments/ladder.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "core/errors.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/run.h"
#include "experiments/curve_util.h"
#include "experiments/grid.h"
#include "tasks/task.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

const NotesRow& notes_row(int stage) {
  // The design notes' comparison table ("단계별 비교"), in English.
  static const NotesRow rows[] = {{"person", "person", "none", "very slow"},
                                  {"person", "machine", "medium", "medium"},
                                  {"machine", "machine", "a lot", "slow"},
                                  {"machine", "machine", "little", "fast"},
                                  {"machine", "machine", "none", "immediate"}};
  if (stage < 1 || stage > 5) throw std::out_of_range(fmt::format("no stage {} in the notes", stage));
  return rows[stage - 1];
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- the config layer -------------------------------------------------------------------

enum class Kind { kRules, kTrain, kFinetune, kPrompt, kNone };

const config::EnumNames<Kind>& kind_names() {
  static const config::EnumNames<Kind> names = {
      {"rules", Kind::kRules}, {"train", Kind::kTrain}, {"finetune", Kind::kFinetune},
      {"prompt", Kind::kPrompt}, {"none", Kind::kNone}};
  return names;
}

struct StageOptions {
  std::string stage, approach, view, where;
  int number = 0;  // the notes' stage, 1-5
  Kind kind = Kind::kTrain;
  std::string config;  // resolved path
  std::vector<std::string> overrides;
  std::vector<std::string> limited_overrides;  // the limited-labels runs only
  bool uses_pretrain = false;
  EpochBudget epochs;
  std::string reason;  // not applicable: why (kind none, or `requires` absent)
  std::string task;    // prompt
  std::vector<int64_t> num_fewshot = {0};
  std::string subset_name;  // class_subset: its accuracy in the table's note
  std::vector<int64_t> subset_classes;
  int64_t limit = 0, batch_size = 8;
};

struct PretrainSection {
  std::string config;
  std::vector<std::string> overrides;
  int64_t labels = 0;
};

struct LadderOptions {
  int64_t seeds = 3, labels_per_class = 100, num_classes = 2;
  double one_seed_after_s = 600;
  std::optional<PretrainSection> pretrain;
  std::string task_dir;
  std::vector<StageOptions> stages;
};

void read_prompt(config::Reader& r, StageOptions& s) {
  r.required("task", s.task);
  if (is_yaml_path(s.task)) s.task = near_config(s.task, r.source_file());
  read_shot_counts(r, "num_fewshot", s.num_fewshot);
  r.read("limit", s.limit, config::Range::non_negative());
  r.read("batch_size", s.batch_size, config::Range::at_least(1));
}

StageOptions read_stage(config::Reader& r, bool has_pretrain) {
  StageOptions s;
  s.where = r.where();
  r.required("stage", s.stage);
  if (s.stage.empty() || s.stage[0] < '1' || s.stage[0] > '5') {
    r.fail("stage", fmt::format("'{}' must start with the notes' stage number, 1 to 5", s.stage));
  }
  s.number = s.stage[0] - '0';
  r.required("approach", s.approach);
  r.require("kind");
  r.read_enum("kind", s.kind, kind_names());
  r.read("view", s.view);
  r.read("reason", s.reason);
  if (s.kind == Kind::kNone && s.reason.empty()) r.fail("reason", "is required: why the stage does not apply");
  if (s.kind == Kind::kRules || s.kind == Kind::kTrain || s.kind == Kind::kFinetune) {
    s.config = existing_path(r, "config");
    r.read("overrides", s.overrides);
  }
  if (s.kind == Kind::kTrain || s.kind == Kind::kFinetune) {
    r.read("limited_overrides", s.limited_overrides);
    if (r.has("epochs")) {
      config::Reader e = r.child("epochs");
      read_options(e, s.epochs);
    }
  }
  if (s.kind == Kind::kFinetune) r.read("uses_pretrain", s.uses_pretrain);
  if (s.kind == Kind::kFinetune && r.has("class_subset")) {
    config::Reader c = r.child("class_subset");
    c.required("name", s.subset_name);
    c.require("classes");
    c.read("classes", s.subset_classes);
    if (s.subset_classes.empty()) c.fail("classes", "must list at least one class index");
    for (int64_t k : s.subset_classes) {
      if (k < 0) c.fail("classes", fmt::format("holds {}; class indices are 0 or more", k));
    }
    c.finish();
  }
  if (s.kind == Kind::kPrompt) read_prompt(r, s);
  if ((s.uses_pretrain || s.kind == Kind::kPrompt) && !has_pretrain) {
    r.fail("kind", "starts from the ladder's pre-training run, and the ladder has no 'pretrain'");
  }
  std::string requires_path;
  r.read("requires", requires_path);
  if (!requires_path.empty()) {
    requires_path = near_config(requires_path, r.source_file());
    if (!fs::exists(requires_path)) {
      s.reason = fmt::format("needs {}, which is absent (scripts/bootstrap.sh installs it)", requires_path);
    }
  }
  r.finish();
  return s;
}

void read_options(config::Reader& root, LadderOptions& o) {
  root.read("seeds", o.seeds, config::Range::at_least(1));
  root.read("labels_per_class", o.labels_per_class, config::Range::at_least(1));
  root.read("num_classes", o.num_classes, config::Range::at_least(1));
  root.read("one_seed_after_s", o.one_seed_after_s, config::Range::positive());
  root.read("task_dir", o.task_dir);
  if (root.has("pretrain")) {
    config::Reader p = root.child("pretrain");
    PretrainSection& s = o.pretrain.emplace();
    s.config = existing_path(p, "config");
    p.read("overrides", s.overrides);
    p.read("labels", s.labels, config::Range::non_negative());
    p.finish();
  }
  root.require("stages");
  std::set<std::string> dirs;
  for (auto& r : root.children("stages")) {
    StageOptions s = read_stage(r, o.pretrain.has_value());
    if (!dirs.insert(slug(s.stage + " " + s.approach, "stage")).second) {
      r.fail("stage", fmt::format("'{}: {}' is listed twice", s.stage, s.approach));
    }
    o.stages.push_back(std::move(s));
  }
  if (o.stages.empty()) root.fail("stages", "must list at least one stage");
}

// ---- hand-written lines -----------------------------------------------------------------

// Lines of `node` written in YAML block style, one per scalar.
int64_t block_lines(const YAML::Node& node) {
  if (node.IsScalar()) return 1;
  int64_t n = 0;
  if (node.IsSequence()) {
    for (const auto& item : node) n += block_lines(item);
  } else if (node.IsMap()) {
    for (const auto& kv : node) n += kv.second.IsScalar() ? 1 : 1 + block_lines(kv.second);
  }
  return n;
}

// The lines a person wrote for a stage: its config's model.rules and model.features.
int64_t hand_written_lines(const std::string& config) {
  if (config.empty()) return 0;
  const YAML::Node model = YAML::LoadFile(config)["model"];
  if (!model || !model.IsMap()) return 0;
  int64_t n = 0;
  for (const char* key : {"rules", "features"}) {
    if (model[key]) n += 1 + block_lines(model[key]);
  }
  return n;
}

// ---- the runs ---------------------------------------------------------------------------

struct LadderRun {
  size_t stage = 0;
  int64_t labels_per_class = -1;  // -1: the stage does not train; 0: all labels
  int64_t seed_index = 0, seed = 0;
  int64_t shots = -1;  // prompt stages
  std::string dir;
  GridRun grid;
};

struct Context {
  const LadderOptions& o;
  const RunOptions& run;
  std::vector<std::string> shared;  // device, when the ladder sets it
  std::string init_from, pretrain_key;
};

std::string stage_dir(const Context& c, const StageOptions& s) {
  return (fs::path(c.run.out_dir) / slug(s.stage + " " + s.approach, "stage")).string();
}

std::string label_of(const StageOptions& s, const LadderRun& r) {
  std::string out = fmt::format("stage {} ({})", s.stage, s.approach);
  if (r.shots >= 0) return out + fmt::format(" | {}-shot", r.shots);
  if (r.labels_per_class > 0) out += fmt::format(" | {} per class", r.labels_per_class);
  if (r.labels_per_class == 0) out += " | all labels";
  return out + fmt::format(" | seed {}", r.seed);
}

void add_train_runs(const Context& c, size_t i, std::vector<LadderRun>& runs) {
  const StageOptions& s = c.o.stages[i];
  std::vector<int64_t> counts = {-1};
  if (s.kind != Kind::kRules) counts = {c.o.labels_per_class, 0};
  for (int64_t n : counts) {
    const int64_t seeds = n < 0 ? 1 : c.o.seeds;
    for (int64_t k = 0; k < seeds; ++k) {
      LadderRun r{i, n, k, c.run.seed + k};
      std::vector<std::string> overrides = s.overrides;
      overrides.push_back(override_arg("seed", r.seed));
      overrides.insert(overrides.end(), c.shared.begin(), c.shared.end());
      if (n > 0) overrides.insert(overrides.end(), s.limited_overrides.begin(), s.limited_overrides.end());
      if (n >= 0) overrides.push_back(override_arg("data.labels_per_class", n));
      if (n >= 0 && s.epochs.examples > 0) {
        overrides.push_back(override_arg("trainer.epochs", epochs_for(s.epochs, n * c.o.num_classes)));
      }
      std::vector<std::string> parents;
      if (s.uses_pretrain && !c.init_from.empty()) {
        overrides.push_back(override_arg("init.from", c.init_from));
        parents.push_back(c.pretrain_key);
      }
      fs::path dir = stage_dir(c, s);
      if (n >= 0) dir /= n > 0 ? std::to_string(n) : std::string("all");
      r.dir = (dir / fmt::format("seed-{}", r.seed)).string();
      r.grid = train_grid_run(label_of(s, r), r.dir, config_file_document(s.config, overrides),
                              c.run.threads, /*resumable=*/false, parents);
      r.grid.context = fmt::format("stage {} ({})", s.stage, s.where);
      r.grid.eta_classes = {fmt::format("{}|{}", s.stage, n), s.stage};
      runs.push_back(std::move(r));
    }
  }
}

void add_prompt_runs(const Context& c, size_t i, std::vector<LadderRun>& runs) {
  const StageOptions& s = c.o.stages[i];
  for (int64_t k : s.num_fewshot) {
    LadderRun r{i, -1, 0, c.run.seed, k};
    tasks::EvalRunOptions e;
    e.model = c.init_from;
    e.tasks = {s.task};
    e.num_fewshot = k;
    e.limit = s.limit;
    e.batch_size = s.batch_size;
    e.seed = uint64_t(c.run.seed);
    e.threads = c.run.threads;
    e.task_dir = c.o.task_dir;
    e.out = r.dir = (fs::path(stage_dir(c, s)) / fmt::format("{}shot.json", k)).string();
    const std::string task = s.task, task_dir = c.o.task_dir;
    auto check = [task, task_dir] { tasks::Task::load(tasks::find_task_file(task, task_dir)); };
    check();  // the key reads the task file
    const std::string key = json({{"model", c.pretrain_key}, {"num_fewshot", k}, {"limit", s.limit},
                                  {"batch_size", s.batch_size}, {"seed", c.run.seed}})
                                .dump() + "\n" + tasks_key_text(e);
    r.grid = eval_grid_run(label_of(s, r), e, key);
    r.grid.check = check;
    r.grid.context = fmt::format("stage {} ({})", s.stage, s.where);
    r.grid.cost = double(k + 1);
    r.grid.eta_classes = {s.stage};
    runs.push_back(std::move(r));
  }
}

std::vector<LadderRun> plan_runs(const Context& c) {
  std::vector<LadderRun> runs;
  for (size_t i = 0; i < c.o.stages.size(); ++i) {
    const StageOptions& s = c.o.stages[i];
    if (!s.reason.empty()) continue;  // not applicable
    if (s.kind == Kind::kPrompt) {
      if (!c.init_from.empty()) add_prompt_runs(c, i, runs);
    } else {
      add_train_runs(c, i, runs);
    }
  }
  return runs;
}

std::vector<GridRun> grid_of(const std::vector<LadderRun>& runs) {
  std::vector<GridRun> out;
  for (const auto& r : runs) out.push_back(r.grid);
  return out;
}

// ---- the numbers of one run ---------------------------------------------------------------

struct Measured {
  double acc = kNaN;
  int64_t labelled = 0;
  double seconds = 0;           // the run's wall time (training, or evaluation when prompted)
  double examples_per_s = kNaN;  // inference
  int64_t cut = -1;             // prompts cut on the left; -1: not a prompt
  int64_t test_examples = 0;    // scored
  double subset_acc = kNaN;     // the mean per-class accuracy over the stage's class_subset
  bool pretrained_weights = false;  // started from the pre-training run's weights
};

double number(const json& j, const std::string& key, double fallback = kNaN) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    try {
      return std::stod(it->get<std::string>());
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Measured measure_run(const LadderOptions& o, const StageOptions& s, const LadderRun& r,
                     const json& results, double seconds) {
  Measured m;
  m.seconds = seconds;
  const json& res = results.contains("results") ? results["results"] : json::object();
  if (s.kind == Kind::kPrompt) {
    const json& t = res.begin() != res.end() ? *res.begin() : json::object();
    m.acc = number(t, "acc,none");
    const std::string task = res.begin() != res.end() ? res.begin().key() : "";
    const double n = results["n-samples"][task].value("effective", 0.0);
    const double eval_s = number(results, "total_evaluation_time_seconds", 0.0);
    if (eval_s > 0) m.examples_per_s = n / eval_s;
    m.cut = results.contains("left_truncated") ? results["left_truncated"].value(task, int64_t(0)) : 0;
    m.test_examples = int64_t(n);
    m.labelled = r.shots;
    return m;
  }
  if (results.contains("test") && results["test"].contains("acc")) {  // stages 1-2
    m.acc = results["test"]["acc"].get<double>();
    const double predict_s = number(results, "predict_seconds", 0.0);
    if (predict_s > 0) m.examples_per_s = results["test"].value("n", 0.0) / predict_s;
    m.labelled = results.value("labelled_examples", int64_t(0));
    m.test_examples = results["test"].value("n", int64_t(0));
    return m;
  }
  m.acc = number(res, "eval/test/acc");
  m.examples_per_s = number(results.value("timing", json::object()), "timing/test/examples_per_s",
                            number(res, "eval/test/examples_per_s"));  // the first ladders' runs
  if (!s.subset_classes.empty()) {
    double sum = 0;
    for (int64_t k : s.subset_classes) {
      const double acc = number(res, fmt::format("eval/test/acc_class_{}", k));
      if (std::isnan(acc)) {
        throw InputError(fmt::format("stage {} ({}): class_subset names class {}, which the test set "
                                     "does not have ({} holds no eval/test/acc_class_{})",
                                     s.stage, s.where, k, r.grid.results_file, k));
      }
      sum += acc;
    }
    m.subset_acc = sum / double(s.subset_classes.size());
  }
  m.test_examples = results.value("test_examples", int64_t(0));
  m.labelled = results.value("train_examples", int64_t(0)) + results.value("validation_examples", int64_t(0));
  // The pre-training's labels, where its weights were used (not by a fresh-weights run that
  // takes only the architecture: init.pretrained false).
  m.pretrained_weights = s.uses_pretrain && results.value("pretrained", true);
  if (m.pretrained_weights && o.pretrain) m.labelled += o.pretrain->labels;
  if (std::isnan(m.acc)) {
    throw InputError(fmt::format("{}: holds no test accuracy (results: eval/test/acc)", r.grid.results_file));
  }
  return m;
}

std::string optional_number(double v, const char* format = "{:.6f}") {
  return std::isnan(v) ? "" : fmt::format(fmt::runtime(format), v);
}

std::string row_csv(const StageOptions& s, const LadderRun& r, const Measured& m) {
  return fmt::format("{},{},{},{},{},{},{},{:.1f},{},{},{}", csv_field(s.stage), csv_field(s.approach),
                     r.labels_per_class >= 0 ? std::to_string(r.labels_per_class) : "",
                     r.shots >= 0 ? std::to_string(r.shots) : "", r.seed, m.labelled,
                     optional_number(m.acc), m.seconds, optional_number(m.examples_per_s, "{:.1f}"),
                     m.cut >= 0 ? std::to_string(m.cut) : "", csv_field(r.dir));
}

// ---- the table --------------------------------------------------------------------------

struct Cell {
  std::vector<double> acc, seconds, examples_per_s, subset_acc;
  int64_t labelled = 0, test_examples = 0;
  int64_t cut = -1;
  bool pretrained_weights = false;
};

std::string mean_std(const std::vector<double>& v) {
  if (v.empty()) return "";
  double mean = 0;
  for (double x : v) mean += x / double(v.size());
  if (v.size() == 1) return fmt::format("{:.4f}", mean);
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return fmt::format("{:.4f} ± {:.4f}", mean, std::sqrt(ss / double(v.size() - 1)));
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  }
  return n > 0 ? sum / double(n) : kNaN;
}

const std::vector<std::string>& table_columns() {
  static const std::vector<std::string> columns = {
      "stage", "approach", "view", "features by", "decision by", "hand-written lines",
      "labelled examples", "test examples", "acc, limited labels", "acc, all labels", "seeds",
      "train s", "inference ex/s", "cut prompts", "notes: data needed",
      "notes: development speed", "note"};
  return columns;
}

using TableRow = std::map<std::string, std::string>;  // column -> cell

std::string seeds_text(const Cell& few, const Cell& all) {
  return few.acc.size() == all.acc.size() ? std::to_string(all.acc.size())
                                          : fmt::format("{}; {}", few.acc.size(), all.acc.size());
}

// The cells of stage `i`'s runs, by label count (by shot count for a prompt stage).
std::map<int64_t, Cell> cells_of(size_t i, Kind kind, const std::vector<LadderRun>& runs,
                                 const std::vector<std::optional<Measured>>& measured) {
  std::map<int64_t, Cell> cells;
  for (size_t j = 0; j < runs.size(); ++j) {
    if (runs[j].stage != i || !measured[j]) continue;
    Cell& c = cells[kind == Kind::kPrompt ? runs[j].shots : runs[j].labels_per_class];
    c.acc.push_back(measured[j]->acc);
    c.seconds.push_back(measured[j]->seconds);
    c.examples_per_s.push_back(measured[j]->examples_per_s);
    c.subset_acc.push_back(measured[j]->subset_acc);
    c.pretrained_weights = measured[j]->pretrained_weights;
    c.labelled = measured[j]->labelled;
    c.test_examples = measured[j]->test_examples;
    c.cut = measured[j]->cut;
  }
  return cells;
}

// One table row per stage (per shot count for a prompt stage).
std::vector<TableRow> table_rows(const LadderOptions& o, const std::vector<LadderRun>& runs,
                                 const std::vector<std::optional<Measured>>& measured,
                                 double pretrain_s) {
  std::vector<TableRow> rows;
  for (size_t i = 0; i < o.stages.size(); ++i) {
    const StageOptions& s = o.stages[i];
    const NotesRow& notes = notes_row(s.number);
    const TableRow base = {{"stage", s.stage},
                           {"approach", s.approach},
                           {"view", s.view},
                           {"features by", notes.features_by},
                           {"decision by", notes.decision_by},
                           {"hand-written lines", std::to_string(hand_written_lines(s.config))},
                           {"notes: data needed", notes.data_needed},
                           {"notes: development speed", notes.development_speed}};
    if (!s.reason.empty()) {
      TableRow r = base;
      r["note"] = "not applicable: " + s.reason;
      rows.push_back(r);
      continue;
    }
    const std::map<int64_t, Cell> cells = cells_of(i, s.kind, runs, measured);
    if (s.kind == Kind::kPrompt || s.kind == Kind::kRules) {  // one accuracy: no training
      for (const auto& [key, c] : cells) {
        TableRow r = base;
        if (s.kind == Kind::kPrompt) r["stage"] = fmt::format("{} ({}-shot)", s.stage, key);
        r["labelled examples"] = std::to_string(c.labelled);
        r["test examples"] = std::to_string(c.test_examples);
        r["acc, limited labels"] = r["acc, all labels"] = mean_std(c.acc);
        r["seeds"] = "1 (no training)";
        r["train s"] = s.kind == Kind::kPrompt ? "0" : fmt::format("{:.1f}", mean_of(c.seconds));
        r["inference ex/s"] = optional_number(mean_of(c.examples_per_s), "{:.1f}");
        if (c.cut >= 0) r["cut prompts"] = std::to_string(c.cut);
        if (s.kind == Kind::kPrompt) r["note"] = fmt::format("evaluation took {:.1f} s", mean_of(c.seconds));
        rows.push_back(r);
      }
      continue;
    }
    const Cell few = cells.count(o.labels_per_class) ? cells.at(o.labels_per_class) : Cell{};
    const Cell all = cells.count(0) ? cells.at(0) : Cell{};
    TableRow r = base;
    r["labelled examples"] = fmt::format("{}; {}", few.labelled, all.labelled);
    r["test examples"] = std::to_string(all.test_examples);
    r["acc, limited labels"] = mean_std(few.acc);
    r["acc, all labels"] = mean_std(all.acc);
    r["seeds"] = seeds_text(few, all);
    r["train s"] = fmt::format("{:.1f}; {:.1f}", mean_of(few.seconds), mean_of(all.seconds));
    r["inference ex/s"] = optional_number(mean_of(all.examples_per_s), "{:.1f}");
    std::vector<std::string> remarks;
    if (s.uses_pretrain && all.pretrained_weights) {
      remarks.push_back(fmt::format("plus {:.1f} s of pre-training, run once", pretrain_s));
    } else if (s.uses_pretrain) {
      remarks.push_back("the pre-training run's architecture (and tokenizer), fresh weights");
    }
    if (!s.subset_classes.empty()) {
      remarks.push_back(fmt::format("{} alone: {} with {} labels/class, {} with all labels", s.subset_name,
                                  mean_std(few.subset_acc), o.labels_per_class, mean_std(all.subset_acc)));
    }
    r["note"] = fmt::format("{}", fmt::join(remarks, "; "));
    rows.push_back(r);
  }
  return rows;
}

// The columns' titles, the limited label count in them.
std::vector<std::string> column_titles(const LadderOptions& o) {
  std::vector<std::string> titles;
  for (const auto& c : table_columns()) {
    if (c == "labelled examples") titles.push_back(fmt::format("labelled examples ({}/class; all)", o.labels_per_class));
    else if (c == "acc, limited labels") titles.push_back(fmt::format("acc, {} labels/class", o.labels_per_class));
    else if (c == "train s") titles.push_back(fmt::format("train s ({}/class; all)", o.labels_per_class));
    else titles.push_back(c);
  }
  return titles;
}

std::string markdown_of(const LadderOptions& o, const std::vector<TableRow>& rows) {
  std::string out = "|", rule = "|";
  for (const auto& h : column_titles(o)) {
    out += " " + h + " |";
    rule += " --- |";
  }
  out += "\n" + rule + "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : table_columns()) out += " " + markdown_cell(r.count(c) ? r.at(c) : "") + " |";
    out += "\n";
  }
  return out;
}

std::string summary_csv_of(const LadderOptions& o, const std::vector<TableRow>& rows) {
  std::string out;
  const auto titles = column_titles(o);
  for (size_t i = 0; i < titles.size(); ++i) out += (i ? "," : "") + csv_field(titles[i]);
  out += "\n";
  for (const auto& r : rows) {
    const auto& columns = table_columns();
    for (size_t i = 0; i < columns.size(); ++i) {
      out += (i ? "," : "") + csv_field(r.count(columns[i]) ? r.at(columns[i]) : "");
    }
    out += "\n";
  }
  return out;
}

// ---- the pre-training run -----------------------------------------------------------------

GridRun pretrain_run(const LadderOptions& o, const RunOptions& run, const std::vector<std::string>& shared) {
  std::vector<std::string> overrides = o.pretrain->overrides;
  overrides.push_back(override_arg("seed", run.seed));
  overrides.insert(overrides.end(), shared.begin(), shared.end());
  GridRun r = train_grid_run("pre-training", (fs::path(run.out_dir) / "pretrain").string(),
                             config_file_document(o.pretrain->config, overrides), run.threads,
                             /*resumable=*/true);
  r.context = "pretrain (" + o.pretrain->config + ")";
  return r;
}

}  // namespace

nlohmann::json ladder(const config::Document& doc) {
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  LadderOptions o;
  read_options(root, o);
  Context c{o, run, {}, "", ""};
  if (root.has("device")) {
    c.shared.push_back(override_arg("device", config::enum_name(run.device, device_choice_names())));
  }
  root.finish();
  o.task_dir = o.task_dir.empty() ? find_above(doc.file(), "configs/tasks") : near_config(o.task_dir, doc.file());
  if (o.task_dir.empty()) o.task_dir = "configs/tasks";

  RunGrid grid("ladder", doc, run,
               "stage,approach,labels_per_class,num_fewshot,seed,labelled_examples,test_acc,seconds,"
               "inference_examples_per_s,cut_prompts,run_dir");
  // ---- every check before any run: without init.from until the pre-training exists
  std::optional<GridRun> pretrain;
  if (o.pretrain) {
    pretrain = pretrain_run(o, run, c.shared);
    grid.check({*pretrain});
    if (!grid.finished(*pretrain).is_null()) {
      c.init_from = (grid.out_dir() / "pretrain").string();
      c.pretrain_key = grid_key_of(pretrain->key_text);
    }
  }
  grid.check(grid_of(plan_runs(c)));
  double pretrain_s = 0;
  if (pretrain) {
    const auto done = grid.run({*pretrain}, [](size_t, const json&, double) { return std::vector<std::string>{}; });
    pretrain_s = done.seconds[0];
    c.init_from = (grid.out_dir() / "pretrain").string();
    c.pretrain_key = grid_key_of(pretrain->key_text);
  }
  std::vector<LadderRun> runs = plan_runs(c);
  if (pretrain) grid.check(grid_of(runs));  // init.from names a directory now

  // ---- first every stage's first seed; then the other seeds where a run is fast enough
  std::vector<std::optional<Measured>> measured(runs.size());
  std::map<std::pair<size_t, int64_t>, double> first_seconds;
  int64_t trained = 0;
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<size_t> index;
    for (size_t j = 0; j < runs.size(); ++j) {
      const LadderRun& r = runs[j];
      if ((r.seed_index == 0) != (pass == 0)) continue;
      if (pass == 1 && first_seconds[{r.stage, r.labels_per_class}] > o.one_seed_after_s) continue;
      index.push_back(j);
    }
    std::vector<GridRun> batch;
    for (size_t j : index) batch.push_back(runs[j].grid);
    const auto outcome = grid.run(batch, [&](size_t b, const json& results, double seconds) {
      const LadderRun& r = runs[index[b]];
      const StageOptions& s = o.stages[r.stage];
      measured[index[b]] = measure_run(o, s, r, results, seconds);
      if (r.seed_index == 0) first_seconds[{r.stage, r.labels_per_class}] = seconds;
      log::info("[ladder] {}: test accuracy {:.4f} ({:.0f}s)", label_of(s, r), measured[index[b]]->acc, seconds);
      return std::vector<std::string>{row_csv(s, r, *measured[index[b]])};
    });
    trained += outcome.trained;
  }

  // ---- the table
  const auto rows = table_rows(o, runs, measured, pretrain_s);
  GridSummary summary;
  summary.summary_csv = summary_csv_of(o, rows);
  summary.markdown = markdown_of(o, rows);
  json table = json::array();
  for (const auto& r : rows) table.push_back(r);
  summary.json = {{"table", table}, {"markdown", summary.markdown}, {"trained", trained},
                  {"labels_per_class", o.labels_per_class},
                  {"pretrain", c.init_from.empty() ? json() : json(c.init_from)},
                  {"pretrain_seconds", pretrain_s}};
  json result = grid.write_summary(summary);
  log::info("ladder: {} runs, {} run now:\n\n{}", runs.size(), trained, summary.markdown);
  return result;
}

void ladder(const std::string& config_path, const std::vector<std::string>& overrides) {
  ladder(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
