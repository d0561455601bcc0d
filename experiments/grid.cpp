#include "experiments/grid.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>

#include "core/checkpoint.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "experiments/curve_util.h"
#include "experiments/train.h"
#include "tasks/task.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

// ---- overrides and keys -----------------------------------------------------------------

std::string override_arg(const std::string& key, const std::string& value) {
  return key + "=" + json(value).dump();  // a JSON string is a YAML double-quoted scalar
}
std::string override_arg(const std::string& key, const char* value) {
  return override_arg(key, std::string(value));
}
std::string override_arg(const std::string& key, int64_t value) {
  return fmt::format("{}={}", key, value);
}
std::string override_arg(const std::string& key, int value) {
  return override_arg(key, int64_t(value));
}
std::string override_arg(const std::string& key, double value) {
  return fmt::format("{}={}", key, value);
}
std::string override_arg(const std::string& key, bool value) {
  return key + (value ? "=true" : "=false");
}

std::string grid_key_of(const std::string& text) {
  return fmt::format("fnv1a64:{:016x}", fnv1a64(text.data(), text.size()));
}

std::string config_key_text(const config::Document& doc) {
  YAML::Node tree = YAML::Load(doc.yaml());
  if (tree.IsMap()) {
    for (const char* key : {"out_dir", "threads", "resume", "overwrite"}) tree.remove(key);
  }
  YAML::Emitter out;
  out << tree;
  return std::string(out.c_str()) + "\n";
}

MakeDocument config_file_document(std::string config, std::vector<std::string> overrides) {
  return [config = std::move(config),
          overrides = std::move(overrides)](const std::vector<std::string>& extra) {
    std::vector<std::string> all = overrides;
    all.insert(all.end(), extra.begin(), extra.end());
    return config::Document::load(config, all);
  };
}

GridRun eval_grid_run(std::string label, const tasks::EvalRunOptions& options,
                      std::string key_text) {
  GridRun r;
  r.label = std::move(label);
  r.results_file = options.out;
  r.key_text = std::move(key_text);
  r.work = [options](bool) {
    tasks::run_eval(options);
    return GridRun::Outcome{read_json_file(options.out)};
  };
  return r;
}

std::string tasks_key_text(const tasks::EvalRunOptions& options) {
  std::string out;
  for (const auto& t : options.tasks) {
    std::ifstream in(tasks::find_task_file(t, options.task_dir), std::ios::binary);
    out += "task " + t + ":\n" +
           std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

GridRun train_grid_run(std::string label, std::string dir, MakeDocument make, int64_t threads,
                       bool resumable, const std::vector<std::string>& parent_keys) {
  GridRun r;
  r.label = std::move(label);
  r.results_file = (fs::path(dir) / "results.json").string();
  r.key_text = config_key_text(make({}));
  for (const auto& k : parent_keys) r.key_text += "starts from: " + k + "\n";
  r.resumable = resumable;
  r.check = [make] { check_train_config(make({})); };
  r.work = [make, dir, threads](bool resume) {
    std::vector<std::string> extra = {override_arg("out_dir", dir)};
    if (threads > 0) extra.push_back(override_arg("threads", threads));
    // A run cut short continues (resume) or starts over; a stale one starts over.
    extra.push_back(resume ? "resume=true" : "overwrite=true");
    return GridRun::Outcome{train_document(make(extra))};
  };
  return r;
}

// ---- the grid ---------------------------------------------------------------------------

namespace {

constexpr const char* kGrid = "grid";  // results[kGrid] = {key, seconds}

// Runs `work`, naming `label` in any InputError it raises.
template <class F>
auto naming(const std::string& label, F&& work) {
  try {
    return work();
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", label, e.what()));
  }
}

// Seconds per unit of cost, per ETA class and over every run.
class GridClock {
 public:
  void add(const GridRun& r, double seconds) {
    if (seconds <= 0 || r.cost <= 0) return;
    for (const auto& c : r.eta_classes) classes_[c].add(r.cost, seconds);
    all_.add(r.cost, seconds);
  }
  std::string eta(const std::vector<const GridRun*>& left) const {
    if (left.empty()) return "ETA 0:00:00";
    if (all_.cost <= 0) return "ETA known once a run has finished";
    double total = 0;
    for (const GridRun* r : left) {
      const Rate* rate = &all_;
      for (const auto& c : r->eta_classes) {
        auto it = classes_.find(c);
        if (it != classes_.end()) {
          rate = &it->second;
          break;
        }
      }
      total += r->cost * rate->seconds / rate->cost;
    }
    return "ETA " + clock_text(total);
  }

 private:
  struct Rate {
    double cost = 0, seconds = 0;
    void add(double c, double s) {
      cost += c;
      seconds += s;
    }
  };
  std::map<std::string, Rate> classes_;
  Rate all_;
};

}  // namespace

std::string RunGrid::command_name() const {
  std::string out = name_;
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::string clock_text(double seconds) {
  const int64_t s = int64_t(std::llround(std::max(0.0, seconds)));
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

RunGrid::RunGrid(std::string name, const config::Document& doc, const RunOptions& run,
                 std::string rows_header)
    : name_(std::move(name)),
      config_file_(doc.file()),
      config_yaml_(doc.resolved_yaml()),
      rows_header_(std::move(rows_header)),
      out_(run.out_dir),
      overwrite_(run.overwrite) {}

void RunGrid::check(const std::vector<GridRun>& runs) const {
  for (const auto& r : runs) {
    if (r.check) naming(r.context.empty() ? r.label : r.context, r.check);
  }
}

double RunGrid::recorded_seconds(const json& results) {
  const auto g = results.find(kGrid);
  if (g == results.end() || !g->is_object()) return 0.0;
  return g->value("seconds", 0.0);
}

json RunGrid::finished(const GridRun& run) const {
  if (overwrite_ || !fs::exists(run.results_file)) return json();
  json results = read_json_file(run.results_file);
  const auto g = results.find(kGrid);
  if (g == results.end() || !g->is_object() || g->value("key", "") != grid_key_of(run.key_text)) {
    return json();  // written by another config (or before the grid recorded keys)
  }
  return results;
}

RunGrid::Outcome RunGrid::run(const std::vector<GridRun>& runs, const Measure& measure) {
  fs::create_directories(out_);
  write_file_atomic((out_ / "config.yaml").string(), config_yaml_);
  Outcome o;
  for (const auto& r : runs) o.results.push_back(finished(r));
  o.ran.assign(runs.size(), false);
  GridClock clock;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!o.results[i].is_null()) clock.add(runs[i], recorded_seconds(o.results[i]));
  }
  const std::string csv = (out_ / (name_ + ".csv")).string();
  for (size_t i = 0; i < runs.size(); ++i) {
    const GridRun& r = runs[i];
    const std::string progress =
        fmt::format("[{} {}/{}] {}", command_name(), i + 1, runs.size(), r.label);
    if (o.results[i].is_null()) {
      std::vector<const GridRun*> left;
      for (size_t j = i; j < runs.size(); ++j) {
        if (o.results[j].is_null()) left.push_back(&runs[j]);
      }
      const bool resume = r.resumable && !overwrite_ && !fs::exists(r.results_file);
      log::info("{}: running; {}", progress, clock.eta(left));
      const auto t0 = std::chrono::steady_clock::now();
      GridRun::Outcome out =
          naming(r.context.empty() ? r.label : r.context, [&] { return r.work(resume); });
      const double seconds = seconds_since(t0);
      out.results[kGrid] = {{"key", grid_key_of(r.key_text)}, {"seconds", seconds}};
      fs::create_directories(fs::path(r.results_file).parent_path());
      write_file_atomic(r.results_file, out.results.dump(2) + "\n");
      clock.add(r, out.eta_seconds > 0 ? out.eta_seconds : seconds);
      o.results[i] = std::move(out.results);
      o.ran[i] = true;
      ++o.trained;
    } else {
      log::info("{}: done before, {}", progress, r.results_file);
    }
    o.seconds.push_back(recorded_seconds(o.results[i]));
    const std::vector<std::string> added = measure(i, o.results[i], o.seconds.back());
    rows_.insert(rows_.end(), added.begin(), added.end());
    std::string text = rows_header_ + "\n";
    for (const auto& line : rows_) text += line + "\n";
    write_file_atomic(csv, text);  // kept current as runs finish
  }
  return o;
}

json RunGrid::write_summary(GridSummary s) const {
  fs::create_directories(out_);
  if (!s.summary_csv.empty()) {
    write_file_atomic((out_ / (name_ + "_summary.csv")).string(), s.summary_csv);
  }
  if (!s.markdown.empty()) write_file_atomic((out_ / (name_ + ".md")).string(), s.markdown);
  if (!s.plot_script.empty()) {
    const std::string png = (out_ / (name_ + ".png")).string();
    for (auto& a : s.plot_args) {
      if (a == "{png}") a = png;
    }
    if (run_plot_script(config_file_, s.plot_script, s.plot_args, command_name())) s.json["plot"] = png;
  }
  write_file_atomic((out_ / (name_ + ".json")).string(), s.json.dump(2) + "\n");
  return s.json;
}

}  // namespace strata::experiments
