#include "experiments/finetune_curve.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>

#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "experiments/curve_util.h"
#include "experiments/grid.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- the config layer -------------------------------------------------------------------

struct GroupOptions {
  std::string name;
  std::vector<std::string> overrides;
};

struct VariantOptions {
  std::string name;
  std::string config;  // resolved path
  std::vector<std::string> overrides;
  EpochBudget epochs;  // examples 0: the config's own schedule
  std::string where;   // "finetune.yaml:14", for messages
};

struct PretrainOptions {
  std::string config;  // a `strata train` config, run once in out_dir/pretrain
  std::vector<std::string> overrides;
  std::string checkpoint;  // or an existing run directory or checkpoint to start from
};

struct CurveOptions {
  int64_t seeds = 3;
  std::vector<int64_t> labels_per_class;
  int64_t num_classes = 2;
  // A fine-tuning run's test accuracy (experiments/finetune.h). A plain image run logs
  // eval/<dataset>/acc instead, as classical runs do.
  std::string metric = "eval/test/acc";
  std::optional<PretrainOptions> pretrain;
  std::vector<GroupOptions> groups;  // none: one unnamed group, no directory level
  std::vector<VariantOptions> variants;
  bool plot = true;
};

void read_options(config::Reader& r, PretrainOptions& o) {
  if (r.has("config") && r.has("checkpoint")) {
    r.fail("checkpoint", "and 'config' are two starting points; give one");
  }
  if (!r.has("checkpoint") && !r.has("config")) {
    r.fail("config", "or 'checkpoint' is required: what every run starts from");
  }
  if (r.has("checkpoint")) {
    o.checkpoint = existing_path(r, "checkpoint");
    if (r.has("overrides"))
      r.fail("overrides", "apply to a pre-training 'config', not to a checkpoint");
  } else {
    o.config = existing_path(r, "config");
    r.read("overrides", o.overrides);
  }
  r.finish();
}

void read_groups(config::Reader& root, CurveOptions& o) {
  if (!root.has("groups")) return;
  std::set<std::string> dirs;
  for (auto& r : root.children("groups")) {
    GroupOptions g;
    r.required("name", g.name);
    r.read("overrides", g.overrides);
    r.finish();
    if (!dirs.insert(slug(g.name, "group")).second) {
      r.fail("name", fmt::format("'{}' names the same directory as another group", g.name));
    }
    o.groups.push_back(g);
  }
  if (o.groups.empty()) root.fail("groups", "must list at least one group, or be left out");
}

void read_variants(config::Reader& root, CurveOptions& o) {
  root.require("variants");
  std::set<std::string> dirs;
  for (auto& r : root.children("variants")) {
    VariantOptions v;
    v.where = r.where();
    r.required("name", v.name);
    v.config = existing_path(r, "config");
    r.read("overrides", v.overrides);
    if (r.has("epochs")) {
      config::Reader e = r.child("epochs");
      read_options(e, v.epochs);
    }
    r.finish();
    if (!dirs.insert(slug(v.name, "variant")).second) {
      r.fail("name", fmt::format("'{}' names the same directory as another variant", v.name));
    }
    o.variants.push_back(v);
  }
  if (o.variants.empty()) root.fail("variants", "must list at least one variant");
}

void read_options(config::Reader& root, CurveOptions& o) {
  root.read("seeds", o.seeds, config::Range::at_least(1));
  root.require("labels_per_class");
  root.read("labels_per_class", o.labels_per_class);
  if (o.labels_per_class.empty()) {
    root.fail("labels_per_class", "must list at least one label count (0: all labels)");
  }
  std::set<int64_t> seen;
  for (int64_t n : o.labels_per_class) {
    if (n < 0)
      root.fail("labels_per_class", fmt::format("holds {}; a count is 0 (all) or more", n));
    if (!seen.insert(n).second) root.fail("labels_per_class", fmt::format("lists {} twice", n));
  }
  root.read("num_classes", o.num_classes, config::Range::at_least(1));
  root.read("metric", o.metric);
  if (o.metric.empty()) root.fail("metric", "must name a key of results.json's 'results'");
  root.read("plot", o.plot);
  if (root.has("pretrain")) {
    config::Reader p = root.child("pretrain");
    read_options(p, o.pretrain.emplace());
  }
  read_groups(root, o);
  read_variants(root, o);
  // The pre-training run's directory is out_dir/pretrain, beside the groups' (or variants').
  if (o.pretrain && o.pretrain->checkpoint.empty()) {
    std::vector<std::string> names;
    for (const auto& g : o.groups) names.push_back(g.name);
    if (o.groups.empty()) {
      for (const auto& v : o.variants) names.push_back(v.name);
    }
    for (const auto& name : names) {
      if (slug(name, "") == "pretrain") {
        root.fail(o.groups.empty() ? "variants" : "groups",
                  fmt::format("'{}' would share out_dir/pretrain with the pre-training run", name));
      }
    }
  }
}

// ---- the runs ---------------------------------------------------------------------------

struct RunSpec {
  std::string group;  // "" without groups
  const VariantOptions* variant = nullptr;
  int64_t labels_per_class = 0, seed = 0;
  int64_t train_examples = 0;  // 0: not known here (all labels)
  double epochs = 0;           // 0: the config's own schedule
  std::string dir;
  std::vector<std::string> overrides;  // what decides its result, but init.from
  std::string where;                   // the variant and group, for messages
};

// Runs `work`, naming the run's variant and group in any InputError it raises.
template <class F>
auto in_context(const std::string& where, F&& work) {
  try {
    return work();
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}

// The classes a run trains on: its data.classes, or `fallback` where it lists none.
int64_t classes_of(const config::Document& doc, int64_t fallback) {
  std::vector<std::string> classes;
  doc.root().child("data").read("classes", classes);
  return classes.empty() ? fallback : int64_t(classes.size());
}

std::string run_label(const RunSpec& r) {
  return fmt::format("{}{} | {} | seed {}", r.group.empty() ? "" : r.group + " | ", r.variant->name,
                     r.labels_per_class > 0 ? fmt::format("{} per class", r.labels_per_class)
                                            : std::string("all labels"),
                     r.seed);
}

// The runs of one variant in one group (nullptr: no groups), label count then seed.
void plan_variant(const CurveOptions& o, const RunOptions& run, const GroupOptions* g,
                  const VariantOptions& v, const std::vector<std::string>& shared,
                  std::vector<RunSpec>& runs) {
  std::vector<std::string> base = g ? g->overrides : std::vector<std::string>{};
  base.insert(base.end(), v.overrides.begin(), v.overrides.end());
  const std::string where = g ? fmt::format("variant '{}' in group '{}' ({})", v.name, g->name, v.where)
                              : fmt::format("variant '{}' ({})", v.name, v.where);
  const int64_t classes = in_context(
      where, [&] { return classes_of(config::Document::load(v.config, base), o.num_classes); });
  fs::path variant_dir(run.out_dir);
  if (g) variant_dir /= slug(g->name, "group");
  variant_dir /= slug(v.name, "variant");
  for (int64_t n : o.labels_per_class) {
    for (int64_t k = 0; k < o.seeds; ++k) {
      RunSpec r;
      r.group = g ? g->name : "";
      r.variant = &v;
      r.labels_per_class = n;
      r.seed = run.seed + k;
      r.train_examples = n * classes;
      r.where = where;
      r.dir = (variant_dir / std::to_string(n) / fmt::format("seed-{}", r.seed)).string();
      r.overrides = base;
      r.overrides.push_back(override_arg("seed", r.seed));
      r.overrides.push_back(override_arg("data.labels_per_class", n));
      if (v.epochs.examples > 0) {
        r.epochs = epochs_for(v.epochs, r.train_examples);
        r.overrides.push_back(override_arg("trainer.epochs", r.epochs));
      }
      r.overrides.insert(r.overrides.end(), shared.begin(), shared.end());
      runs.push_back(r);
    }
  }
}

// Every run in order: group, variant, label count, seed. `shared` are the overrides this
// config passes to every run that decide its result (device).
std::vector<RunSpec> plan_runs(const CurveOptions& o, const RunOptions& run,
                               const std::vector<std::string>& shared) {
  std::vector<const GroupOptions*> groups;
  for (const auto& g : o.groups) groups.push_back(&g);
  if (groups.empty()) groups.push_back(nullptr);
  std::vector<RunSpec> runs;
  for (const GroupOptions* g : groups) {
    for (const auto& v : o.variants) plan_variant(o, run, g, v, shared, runs);
  }
  return runs;
}

// The grid's runs: each RunSpec starting from `init_from` ("": none yet), whose key
// `parent_key` is ("": none).
std::vector<GridRun> grid_runs(const std::vector<RunSpec>& specs, const std::string& init_from,
                               const std::string& parent_key, int64_t threads) {
  std::vector<GridRun> runs;
  for (const auto& spec : specs) {
    std::vector<std::string> overrides = spec.overrides;
    if (!init_from.empty()) overrides.push_back(override_arg("init.from", init_from));
    const MakeDocument make = config_file_document(spec.variant->config, overrides);
    GridRun r = in_context(spec.where, [&] {
      return train_grid_run(run_label(spec), spec.dir, make, threads, /*resumable=*/false,
                            parent_key.empty() ? std::vector<std::string>{}
                                               : std::vector<std::string>{parent_key});
    });
    r.context = spec.where;
    r.eta_classes = {fmt::format("{}|{}", spec.variant->name, spec.labels_per_class),
                     spec.variant->name};
    runs.push_back(std::move(r));
  }
  return runs;
}

double metric_of(const json& results, const std::string& metric, const std::string& path) {
  std::string keys;
  const auto r = results.find("results");
  if (r != results.end() && r->is_object()) {
    const auto m = r->find(metric);
    if (m != r->end() && m->is_number()) return m->get<double>();
    for (const auto& [key, value] : r->items()) {
      if (value.is_number()) keys += (keys.empty() ? "" : ", ") + key;
    }
  }
  throw InputError(fmt::format("{}: 'results' holds no '{}'{}; set the curve's 'metric'", path,
                               metric, keys.empty() ? "" : " (it holds " + keys + ")"));
}

// ---- the pre-training run ---------------------------------------------------------------

// The pre-training run as a grid run: resumable, in out_dir/pretrain.
GridRun pretrain_run(const PretrainOptions& p, const RunOptions& run,
                     const std::vector<std::string>& shared) {
  std::vector<std::string> overrides = p.overrides;
  overrides.push_back(override_arg("seed", run.seed));
  overrides.insert(overrides.end(), shared.begin(), shared.end());
  const MakeDocument make = config_file_document(p.config, overrides);
  const std::string where = "pretrain (" + p.config + ")";
  GridRun r = in_context(where, [&] {
    return train_grid_run("pre-training", (fs::path(run.out_dir) / "pretrain").string(), make,
                          run.threads, /*resumable=*/true);
  });
  r.context = where;
  return r;
}

// ---- the numbers ------------------------------------------------------------------------

// One finished run: a row of finetune_curve.csv and of finetune_curve.json's `rows`.
struct Row {
  const RunSpec* run = nullptr;
  double value = 0;
  double seconds = 0;          // as recorded when it trained; 0: not recorded
  int64_t train_examples = 0;  // 0: not known
};

Row row_of(const RunSpec& r, const json& results, const std::string& metric, double seconds) {
  Row row;
  row.run = &r;
  row.value = metric_of(results, metric, (fs::path(r.dir) / "results.json").string());
  row.seconds = seconds;
  row.train_examples =
      r.train_examples > 0 ? r.train_examples : results.value("train_examples", int64_t(0));
  return row;
}

constexpr const char* kRowsHeader =
    "group,variant,labels_per_class,train_examples,seed,value,seconds,run_dir";

std::string row_csv(const Row& row) {
  const RunSpec& r = *row.run;
  return fmt::format("{},{},{},{},{},{:.6f},{:.1f},{}", csv_field(r.group),
                     csv_field(r.variant->name), r.labels_per_class,
                     row.train_examples > 0 ? std::to_string(row.train_examples) : "", r.seed,
                     row.value, row.seconds, csv_field(r.dir));
}

json rows_json(const std::vector<Row>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    const RunSpec& r = *row.run;
    out.push_back({{"group", r.group},
                   {"variant", r.variant->name},
                   {"labels_per_class", r.labels_per_class},
                   {"train_examples", row.train_examples > 0 ? json(row.train_examples) : json()},
                   {"seed", r.seed},
                   {"epochs", r.epochs > 0 ? json(r.epochs) : json()},
                   {"value", row.value},
                   {"seconds", row.seconds},
                   {"run_dir", r.dir}});
  }
  return out;
}

// One point of the curve: a group, variant and label count over its seeds.
struct Point {
  std::string group, variant;
  int64_t labels_per_class = 0;
  double mean = 0, std = kNaN;  // sample standard deviation (n - 1); NaN for one seed
  int64_t seeds = 0;
};

// Rows are in the runs' order, a point's seeds next to each other.
std::vector<Point> summarise(const std::vector<Row>& rows) {
  auto same_point = [](const RunSpec& a, const RunSpec& b) {
    return a.group == b.group && a.variant == b.variant && a.labels_per_class == b.labels_per_class;
  };
  std::vector<Point> points;
  for (size_t i = 0; i < rows.size();) {
    const RunSpec& r = *rows[i].run;
    size_t end = i;
    while (end < rows.size() && same_point(*rows[end].run, r)) ++end;
    Point p{r.group, r.variant->name, r.labels_per_class};
    p.seeds = int64_t(end - i);
    for (size_t j = i; j < end; ++j) p.mean += rows[j].value / double(p.seeds);
    if (p.seeds > 1) {
      double ss = 0;
      for (size_t j = i; j < end; ++j) ss += (rows[j].value - p.mean) * (rows[j].value - p.mean);
      p.std = std::sqrt(ss / double(p.seeds - 1));
    }
    points.push_back(p);
    i = end;
  }
  return points;
}

std::string optional_number(double v) { return std::isnan(v) ? "" : fmt::format("{:.6f}", v); }

std::string summary_csv(const std::vector<Point>& points) {
  std::string out = "group,variant,labels_per_class,mean,std,n_seeds\n";
  for (const auto& p : points) {
    out += fmt::format("{},{},{},{:.6f},{},{}\n", csv_field(p.group), csv_field(p.variant),
                       p.labels_per_class, p.mean, optional_number(p.std), p.seeds);
  }
  return out;
}

json summary_json(const std::vector<Point>& points) {
  json out = json::array();
  for (const auto& p : points) {
    out.push_back({{"group", p.group},
                   {"variant", p.variant},
                   {"labels_per_class", p.labels_per_class},
                   {"mean", p.mean},
                   {"std", std::isnan(p.std) ? json() : json(p.std)},
                   {"n_seeds", p.seeds}});
  }
  return out;
}

// group | variant | one column per label count, "mean ± std".
std::string markdown_table(const CurveOptions& o, const std::vector<Point>& points) {
  std::string out = "| group | variant |";
  std::string rule = "| --- | --- |";
  for (int64_t n : o.labels_per_class) {
    out += n > 0 ? fmt::format(" {} per class |", n) : std::string(" all labels |");
    rule += " ---: |";
  }
  out += "\n" + rule + "\n";
  const size_t columns = o.labels_per_class.size();
  for (size_t i = 0; i + columns <= points.size(); i += columns) {
    out += fmt::format("| {} | {} |", markdown_cell(points[i].group),
                       markdown_cell(points[i].variant));
    for (size_t j = i; j < i + columns; ++j) {
      out += std::isnan(points[j].std)
                 ? fmt::format(" {:.4f} |", points[j].mean)
                 : fmt::format(" {:.4f} ± {:.4f} |", points[j].mean, points[j].std);
    }
    out += "\n";
  }
  return out;
}

// ---- the grid ---------------------------------------------------------------------------

// A wrong `metric` fails here, on runs finished before, before anything trains.
void check_metric(const RunGrid& grid, const std::vector<GridRun>& runs, const std::string& metric) {
  for (const auto& r : runs) {
    const json results = grid.finished(r);
    if (!results.is_null()) metric_of(results, metric, r.results_file);
  }
}

// The pre-training run, once (reused when finished): returns what every run starts from
// and its key ("" without pre-training). Before it has run, every curve run is checked
// without init.from; after, with it.
std::pair<std::string, std::string> pretrain_once(RunGrid& grid, const CurveOptions& o,
                                                  const RunOptions& run,
                                                  const std::vector<std::string>& shared,
                                                  const std::vector<RunSpec>& specs) {
  if (!o.pretrain) {
    grid.check(grid_runs(specs, "", "", run.threads));
    return {"", ""};
  }
  if (!o.pretrain->checkpoint.empty()) {
    grid.check(grid_runs(specs, o.pretrain->checkpoint, "", run.threads));
    return {o.pretrain->checkpoint, ""};
  }
  const GridRun pretrain = pretrain_run(*o.pretrain, run, shared);
  const std::string dir = (grid.out_dir() / "pretrain").string();
  const std::string key = grid_key_of(pretrain.key_text);
  const bool before = !grid.finished(pretrain).is_null();
  grid.check({pretrain});
  grid.check(grid_runs(specs, before ? dir : "", key, run.threads));
  if (!before) {
    grid.run({pretrain}, [](size_t, const json&, double) { return std::vector<std::string>{}; });
    grid.check(grid_runs(specs, dir, key, run.threads));  // init.from names a directory now
  } else {
    log::info("[finetune-curve] pre-training: done before, {}", dir);
  }
  return {dir, key};
}

}  // namespace

nlohmann::json finetune_curve(const config::Document& doc) {
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  CurveOptions o;
  read_options(root, o);
  std::vector<std::string> shared;  // what this config sets for every run, threads aside
  if (root.has("device")) {
    shared.push_back(override_arg("device", config::enum_name(run.device, device_choice_names())));
  }
  root.finish();

  const std::vector<RunSpec> specs = plan_runs(o, run, shared);
  RunGrid grid("finetune_curve", doc, run, kRowsHeader);
  const auto [init_from, parent_key] = pretrain_once(grid, o, run, shared, specs);
  const std::vector<GridRun> runs = grid_runs(specs, init_from, parent_key, run.threads);
  check_metric(grid, runs, o.metric);

  std::vector<Row> rows;
  const auto outcome = grid.run(runs, [&](size_t i, const json& results, double seconds) {
    rows.push_back(row_of(specs[i], results, o.metric, seconds));
    log::info("[finetune-curve {}/{}] {}: {} {:.4f} ({:.0f}s)", i + 1, runs.size(),
              run_label(specs[i]), o.metric, rows.back().value, rows.back().seconds);
    return std::vector<std::string>{row_csv(rows.back())};
  });

  const std::vector<Point> points = summarise(rows);
  GridSummary summary;
  summary.summary_csv = summary_csv(points);
  summary.markdown = markdown_table(o, points);
  summary.json = {{"metric", o.metric},         {"rows", rows_json(rows)},
                  {"summary", summary_json(points)}, {"table", summary.markdown},
                  {"trained", outcome.trained}};
  summary.json["pretrain"] = init_from.empty() ? json() : json(init_from);
  if (o.plot) {
    summary.plot_script = "plot_finetune_curve.py";
    summary.plot_args = {(grid.out_dir() / "finetune_curve_summary.csv").string(), "{png}",
                         o.metric};
  }
  json curve = grid.write_summary(summary);
  log::info("finetune-curve: {} runs, {} trained now; {}, mean ± std over {} seed{}:\n\n{}",
            runs.size(), outcome.trained, o.metric, o.seeds, o.seeds == 1 ? "" : "s",
            summary.markdown);
  return curve;
}

void finetune_curve(const std::string& config_path, const std::vector<std::string>& overrides) {
  finetune_curve(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
