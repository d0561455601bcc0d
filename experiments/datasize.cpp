#include "experiments/datasize.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "experiments/train.h"

namespace fs = std::filesystem;

namespace strata::experiments {

namespace {

struct StageOptions {
  std::string name;
  std::string config;  // resolved path
  std::vector<std::string> overrides;
  // Neural stages: epochs = clamp(examples / size, min, max), so that small subsets still
  // get enough optimizer steps. Absent (examples 0): the config's own schedule.
  double examples = 0, min_epochs = 1, max_epochs = 1000;
};

struct DatasizeOptions {
  std::vector<int64_t> sizes = {100, 500, 1000, 5000, 10000, 60000};
  int64_t num_classes = 10;
  std::vector<StageOptions> stages;
  bool plot = true;
};

std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "stage" : out;
}

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
  const fs::path base = fs::path(root.source_file()).parent_path();
  for (auto& r : root.children("stages")) {
    StageOptions s;
    r.require("name");
    r.require("config");
    r.read("name", s.name);
    r.read("config", s.config);
    r.read("overrides", s.overrides);
    if (r.has("epochs")) {
      auto e = r.child("epochs");
      e.require("examples");
      e.read("examples", s.examples, config::Range::positive());
      e.read("min", s.min_epochs, config::Range::positive());
      e.read("max", s.max_epochs, config::Range::positive());
      e.finish();
    }
    if (fs::path(s.config).is_relative() && !fs::exists(s.config) && fs::exists(base / s.config)) {
      s.config = (base / s.config).lexically_normal().string();
    }
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

// scripts/plot_datasize.py, looked for above the config file and the working directory.
std::string find_plot_script(const std::string& config_file) {
  for (fs::path dir : {fs::absolute(config_file).parent_path(), fs::current_path()}) {
    for (; !dir.empty(); dir = dir.parent_path()) {
      auto candidate = dir / "scripts" / "plot_datasize.py";
      if (fs::exists(candidate)) return candidate.string();
      if (dir == dir.root_path()) break;
    }
  }
  return "";
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
      const fs::path dir = out / slug(stage.name) / std::to_string(size);
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
        if (stage.examples > 0) {
          double epochs = std::clamp(std::ceil(stage.examples / double(size)), stage.min_epochs,
                                     stage.max_epochs);
          overrides.push_back(fmt::format("trainer.epochs={}", epochs));
        }
        log::info("[{} | {} examples] {}", stage.name, size, stage.config);
        auto t0 = std::chrono::steady_clock::now();
        results = train_document(config::Document::load(stage.config, overrides));
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
  if (o.plot) {
    const std::string script = find_plot_script(doc.file());
    const std::string png = (out / "datasize.png").string();
    if (script.empty()) {
      log::warn("datasize: scripts/plot_datasize.py not found; no plot");
    } else {
      std::string cmd = fmt::format("/usr/bin/python3 '{}' '{}' '{}'", script,
                                    (out / "datasize.csv").string(), png);
      if (std::system(cmd.c_str()) == 0) {
        summary["plot"] = png;
      } else {
        log::warn("datasize: plotting failed (needs python3-matplotlib): {}", cmd);
      }
    }
  }
  write_file_atomic((out / "datasize.json").string(), summary.dump(2) + "\n");
  return summary;
}

void datasize(const std::string& config_path, const std::vector<std::string>& overrides) {
  datasize(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
