#include "experiments/datasize.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "experiments/curve_util.h"
#include "experiments/grid.h"

namespace fs = std::filesystem;

namespace strata::experiments {

namespace {

struct StageOptions {
  std::string name;
  std::string config;  // resolved path
  std::vector<std::string> overrides;
  EpochBudget epochs;  // neural stages; absent: the config's own schedule
};

struct DatasizeOptions {
  std::vector<int64_t> sizes = {100, 500, 1000, 5000, 10000, 60000};
  int64_t num_classes = 10;
  std::vector<StageOptions> stages;
  bool plot = true;
};

void read_options(config::Reader& root, DatasizeOptions& o) {
  root.read("sizes", o.sizes);
  root.read("num_classes", o.num_classes, config::Range::at_least(1));
  root.read("plot", o.plot);
  if (o.sizes.empty()) root.fail("sizes", "must list at least one training-set size");
  for (int64_t s : o.sizes) {
    if (s < o.num_classes || s % o.num_classes != 0) {
      root.fail("sizes", fmt::format("{} is not a positive multiple of num_classes ({}): subsets "
                                     "are stratified, the same number of examples per class",
                                     s, o.num_classes));
    }
  }
  for (auto& r : root.children("stages")) {
    StageOptions s;
    r.require("name");
    r.require("config");
    r.read("name", s.name);
    r.read("config", s.config);
    r.read("overrides", s.overrides);
    if (r.has("epochs")) {
      auto e = r.child("epochs");
      read_options(e, s.epochs);
    }
    s.config = near_config(s.config, root.source_file());
    if (!fs::exists(s.config)) r.fail("config", fmt::format("'{}' not found", s.config));
    r.finish();
    o.stages.push_back(s);
  }
  if (o.stages.empty()) root.fail("stages", "must list at least one stage");
}

// Test accuracy and its standard error from either kind of results.json.
std::pair<double, double> test_accuracy(const nlohmann::json& r) {
  if (r.contains("test") && r["test"].contains("acc")) {
    return {r["test"]["acc"].get<double>(), r["test"].value("acc_stderr", 0.0)};
  }
  if (r.contains("results")) {
    for (auto it = r["results"].begin(); it != r["results"].end(); ++it) {
      const std::string& k = it.key();
      if (k.size() > 4 && k.compare(k.size() - 4, 4, "/acc") == 0) {
        double acc = it->get<double>();
        double n = r.value("test_examples", 10000.0);
        double se = r["results"].value(k + "_stderr", std::sqrt(acc * (1 - acc) / n));
        return {acc, se};
      }
    }
  }
  throw std::runtime_error("datasize: a run's results.json holds no test accuracy");
}

// Each stage at each size, in order: the curve's runs.
std::vector<GridRun> plan_runs(const DatasizeOptions& o, const RunOptions& run) {
  std::vector<GridRun> runs;
  for (const auto& stage : o.stages) {
    for (int64_t size : o.sizes) {
      const fs::path dir = fs::path(run.out_dir) / slug(stage.name, "stage") / std::to_string(size);
      std::vector<std::string> overrides = stage.overrides;
      overrides.push_back(override_arg("seed", run.seed));
      overrides.push_back(override_arg("device", config::enum_name(run.device, device_choice_names())));
      overrides.push_back(override_arg("data.labels_per_class", size / o.num_classes));
      if (stage.epochs.examples > 0) {
        overrides.push_back(override_arg("trainer.epochs", epochs_for(stage.epochs, size)));
      }
      GridRun r = train_grid_run(fmt::format("{} | {} examples", stage.name, size), dir.string(),
                                 config_file_document(stage.config, overrides), run.threads,
                                 /*resumable=*/false);
      r.eta_classes = {stage.name};
      r.cost = double(size);
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

// Where each later stage's line crosses the first stage's, one sentence per stage.
std::string crossing_of(const DatasizeOptions& o, const nlohmann::json& rows) {
  if (o.stages.size() < 2) return "";
  auto acc_of = [&](const std::string& stage, int64_t size) {
    for (const auto& r : rows) {
      if (r["stage"] == stage && r["train_examples"] == size) return r["test_acc"].get<double>();
    }
    return 0.0;
  };
  std::vector<int64_t> sizes = o.sizes;
  std::sort(sizes.begin(), sizes.end());
  const std::string& a = o.stages[0].name;
  std::string crossing;
  for (size_t j = 1; j < o.stages.size(); ++j) {
    const std::string& b = o.stages[j].name;
    std::string sentence;
    for (size_t i = 0; i + 1 < sizes.size() && sentence.empty(); ++i) {
      double d0 = acc_of(b, sizes[i]) - acc_of(a, sizes[i]);
      double d1 = acc_of(b, sizes[i + 1]) - acc_of(a, sizes[i + 1]);
      if ((d0 <= 0) != (d1 <= 0)) {
        sentence = fmt::format("{} {} {} between {} and {} labelled examples", b,
                               d1 > 0 ? "overtakes" : "falls behind", a, sizes[i], sizes[i + 1]);
      }
    }
    if (sentence.empty()) {
      bool b_leads = acc_of(b, sizes.back()) > acc_of(a, sizes.back());
      sentence = fmt::format("{} and {} do not cross: {} leads at every size from {} to {}", a, b,
                             b_leads ? b : a, sizes.front(), sizes.back());
    }
    crossing += (crossing.empty() ? "" : "; ") + sentence;
  }
  return crossing;
}

// stage | one column per size, test accuracy ± its standard error.
std::string markdown_table(const DatasizeOptions& o, const nlohmann::json& rows) {
  std::string out = "| stage |", rule = "| --- |";
  for (int64_t size : o.sizes) {
    out += fmt::format(" {} examples |", size);
    rule += " ---: |";
  }
  out += "\n" + rule + "\n";
  for (size_t i = 0; i < rows.size(); i += o.sizes.size()) {
    out += fmt::format("| {} |", markdown_cell(rows[i]["stage"].get<std::string>()));
    for (size_t j = i; j < i + o.sizes.size() && j < rows.size(); ++j) {
      out += fmt::format(" {:.4f} ± {:.4f} |", rows[j]["test_acc"].get<double>(),
                         rows[j]["test_acc_stderr"].get<double>());
    }
    out += "\n";
  }
  return out;
}

}  // namespace

nlohmann::json datasize(const config::Document& doc) {
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  DatasizeOptions o;
  read_options(root, o);
  root.finish();
  const std::vector<GridRun> runs = plan_runs(o, run);
  RunGrid grid("datasize", doc, run, "stage,train_examples,test_acc,test_acc_stderr,seconds,run_dir");
  grid.check(runs);  // every run's config, before any run

  nlohmann::json rows = nlohmann::json::array();
  const auto outcome = grid.run(runs, [&](size_t i, const nlohmann::json& results, double seconds) {
    const auto& stage = o.stages[i / o.sizes.size()];
    const int64_t size = o.sizes[i % o.sizes.size()];
    const std::string dir = fs::path(runs[i].results_file).parent_path().string();
    auto [acc, se] = test_accuracy(results);
    log::info("[{} | {} examples] test accuracy {:.4f} ({:.0f}s)", stage.name, size, acc, seconds);
    rows.push_back({{"stage", stage.name},
                    {"train_examples", size},
                    {"test_acc", acc},
                    {"test_acc_stderr", se},
                    {"seconds", seconds},
                    {"run_dir", dir}});
    return std::vector<std::string>{
        fmt::format("\"{}\",{},{:.6f},{:.6f},{:.1f},{}", stage.name, size, acc, se, seconds, dir)};
  });

  const std::string crossing = crossing_of(o, rows);
  if (!crossing.empty()) log::info("{}", crossing);
  GridSummary summary;
  summary.json = {{"rows", rows}, {"crossing", crossing}, {"trained", outcome.trained}};
  summary.markdown = markdown_table(o, rows);
  if (o.plot) {
    summary.plot_script = "plot_datasize.py";
    summary.plot_args = {(grid.out_dir() / "datasize.csv").string(), "{png}"};
  }
  return grid.write_summary(summary);
}

void datasize(const std::string& config_path, const std::vector<std::string>& overrides) {
  datasize(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
