#include "experiments/curve_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/log.h"
#include "core/python.h"
#include "experiments/classical.h"
#include "experiments/finetune.h"
#include "experiments/recipe.h"

namespace fs = std::filesystem;

namespace strata::experiments {

std::string slug(const std::string& name, const std::string& fallback) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? fallback : out;
}

void read_options(config::Reader& r, EpochBudget& o) {
  r.require("examples");
  r.read("examples", o.examples, config::Range::positive());
  r.read("min", o.min, config::Range::positive());
  r.read("max", o.max, config::Range::positive());
  if (o.min > o.max) r.fail("min", fmt::format("{} is more than max ({})", o.min, o.max));
  r.finish();
}

double epochs_for(const EpochBudget& b, int64_t train_examples) {
  if (train_examples <= 0) return b.min;
  return std::clamp(std::ceil(b.examples / double(train_examples)), b.min, b.max);
}

std::string near_config(const std::string& path, const std::string& config_file) {
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path)) return path;
  const fs::path alt = fs::path(config_file).parent_path() / path;
  return fs::exists(alt) ? alt.lexically_normal().string() : path;
}

std::string existing_path(config::Reader& r, const std::string& key) {
  std::string path;
  r.required(key, path);
  path = near_config(path, r.source_file());
  if (!fs::exists(path)) r.fail(key, fmt::format("'{}' not found", path));
  return path;
}

std::string find_above(const std::string& config_file, const std::string& relative) {
  for (fs::path dir : {fs::absolute(config_file).parent_path(), fs::current_path()}) {
    for (; !dir.empty(); dir = dir.parent_path()) {
      auto candidate = dir / relative;
      if (fs::exists(candidate)) return candidate.lexically_normal().string();
      if (dir == dir.root_path()) break;
    }
  }
  return "";
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

bool run_plot_script(const std::string& config_file, const std::string& script,
                     const std::vector<std::string>& args, const std::string& who) {
  const std::string path = find_above(config_file, "scripts/" + script);
  if (path.empty()) {
    log::warn("{}: scripts/{} not found; no plot", who, script);
    return false;
  }
  std::string cmd = shell_quote(python_program()) + " " + shell_quote(path);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  if (std::system(cmd.c_str()) != 0) {
    log::warn("{}: plotting failed (needs matplotlib in .venv: scripts/bootstrap.sh): {}", who, cmd);
    return false;
  }
  return true;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void read_shot_counts(config::Reader& r, const std::string& key, std::vector<int64_t>& out) {
  r.read(key, out);
  if (out.empty()) r.fail(key, "must list at least one shot count");
  std::set<int64_t> seen;
  for (int64_t k : out) {
    if (k < 0) r.fail(key, fmt::format("holds {}; shot counts are 0 or more", k));
    if (!seen.insert(k).second) r.fail(key, fmt::format("lists {} twice", k));
  }
}

std::string markdown_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

void check_train_config(const config::Document& doc) {
  // As train_document dispatches: a fine-tuning config (`init:`) is read by its own plan.
  if (doc.root().has("init")) {
    check_finetune_document(doc);
    return;
  }
  std::string type;
  doc.root().child("model").required("type", type);
  if (!is_classical(type)) plan_run(doc);
}

}  // namespace strata::experiments
