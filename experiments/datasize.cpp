#include "experiments/datasize.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "experiments/curve_util.h"
#include "experiments/train.h"

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

}  // namespace

nlohmann::json datasize(const config::Document& doc) {
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  DatasizeOptions o;
  read_options(root, o);
  root.finish();
  for (const auto& s : o.stages) {  // each stage's config must at least parse
    config::Document::load(s.config, s.overrides);
  }

  const fs::path out(run.out_dir);
  fs::create_directories(out);
  write_file_atomic((out / "config.yaml").string(), doc.resolved_yaml());

  nlohmann::json rows = nlohmann::json::array();
  std::string csv = "stage,train_examples,test_acc,test_acc_stderr,seconds,run_dir\n";
  for (const auto& stage : o.stages) {
    for (int64_t size : o.sizes) {
      const fs::path dir = out / slug(stage.name, "stage") / std::to_string(size);
      nlohmann::json results;
      double seconds = 0;
      if (fs::exists(dir / "results.json")) {
        std::ifstream in(dir / "results.json");
        results = nlohmann::json::parse(in);
        log::info("[{} | {} examples] done before: {}", stage.name, size, dir.string());
        seconds = results.value("datasize_seconds", 0.0);
      } else {
        std::vector<std::string> overrides = stage.overrides;
        overrides.push_back("out_dir=" + dir.string());
        overrides.push_back(fmt::format("seed={}", run.seed));
        if (run.threads > 0) overrides.push_back(fmt::format("threads={}", run.threads));
        overrides.push_back("device=" + config::enum_name(run.device, device_choice_names()));
        overrides.push_back("overwrite=true");  // a run cut short starts over
        overrides.push_back(fmt::format("data.labels_per_class={}", size / o.num_classes));
        if (stage.epochs.examples > 0) {
          overrides.push_back(fmt::format("trainer.epochs={}", epochs_for(stage.epochs, size)));
        }
        log::info("[{} | {} examples] {}", stage.name, size, stage.config);
        auto t0 = std::chrono::steady_clock::now();
        results = train_document(config::Document::load(stage.config, overrides));
        seconds = seconds_since(t0);
        results["datasize_seconds"] = seconds;
        write_file_atomic((dir / "results.json").string(), results.dump(2) + "\n");
      }
      auto [acc, se] = test_accuracy(results);
      log::info("[{} | {} examples] test accuracy {:.4f} ({:.0f}s)", stage.name, size, acc,
                seconds);
      rows.push_back({{"stage", stage.name},
                      {"train_examples", size},
                      {"test_acc", acc},
                      {"test_acc_stderr", se},
                      {"seconds", seconds},
                      {"run_dir", dir.string()}});
      csv += fmt::format("\"{}\",{},{:.6f},{:.6f},{:.1f},{}\n", stage.name, size, acc, se, seconds,
                         dir.string());
      write_file_atomic((out / "datasize.csv").string(), csv);  // kept current as runs finish
    }
  }

  // Where each later stage's line crosses the first stage's, one sentence per stage.
  std::string crossing;
  if (o.stages.size() >= 2) {
    auto acc_of = [&](const std::string& stage, int64_t size) {
      for (const auto& r : rows) {
        if (r["stage"] == stage && r["train_examples"] == size) return r["test_acc"].get<double>();
      }
      return 0.0;
    };
    std::vector<int64_t> sizes = o.sizes;
    std::sort(sizes.begin(), sizes.end());
    const std::string& a = o.stages[0].name;
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
    log::info("{}", crossing);
  }

  nlohmann::json summary = {{"rows", rows}, {"crossing", crossing}};
  const std::string png = (out / "datasize.png").string();
  if (o.plot && run_plot_script(doc.file(), "plot_datasize.py",
                                {(out / "datasize.csv").string(), png}, "datasize")) {
    summary["plot"] = png;
  }
  write_file_atomic((out / "datasize.json").string(), summary.dump(2) + "\n");
  return summary;
}

void datasize(const std::string& config_path, const std::vector<std::string>& overrides) {
  datasize(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
