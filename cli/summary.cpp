// `strata summary CONFIG|CKPT [key=value ...]`: a Keras-style table of the config's model
// (layer, output shape, parameters, trainable or frozen) and its totals.
//
// CONFIG is a run config; CKPT a checkpoint or run directory, whose config.yaml is read.
// Only the `model:` section is read, so a full run config (data, trainer, ...) works.

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "models/registry.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

// The YAML file behind CONFIG|CKPT: the file itself, a directory's config.yaml (a run
// directory and a checkpoint both have one), or the latest checkpoint's.
std::string config_file_of(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(fmt::format("{}: no such file or directory", path));
  if (!fs::is_directory(path, ec)) return path;
  if (fs::is_regular_file(fs::path(path) / "config.yaml", ec)) {
    return (fs::path(path) / "config.yaml").string();
  }
  const fs::path file = fs::path(resolve_checkpoint(path)) / "config.yaml";
  if (!fs::is_regular_file(file, ec)) throw InputError(fmt::format("{}: missing", file.string()));
  return file.string();
}

// 93322 -> "93,322".
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string trainable_text(const SummaryRow& row) {
  if (row.params == 0) return "";
  if (row.trainable == row.params) return "yes";
  return row.trainable == 0 ? "frozen" : "partly";
}

void print_table(const std::string& title, const std::vector<SummaryRow>& rows) {
  std::vector<std::string> layer{"Layer (type)"}, shape{"Output Shape"}, params{"Param #"},
      trainable{"Trainable"};
  int64_t total = 0, total_trainable = 0;
  for (const auto& r : rows) {
    layer.push_back(fmt::format("{} ({})", r.name, r.type));
    shape.push_back(r.output_shape.empty() ? "?" : r.output_shape);
    params.push_back(with_commas(r.params));
    trainable.push_back(trainable_text(r));
    total += r.params;
    total_trainable += r.trainable;
  }
  auto width = [](const std::vector<std::string>& col) {
    size_t w = 0;
    for (const auto& s : col) w = std::max(w, s.size());
    return w + 3;
  };
  const size_t w0 = width(layer), w1 = width(shape), w2 = width(params), w3 = width(trainable);
  const std::string thin(w0 + w1 + w2 + w3, '_'), thick(w0 + w1 + w2 + w3, '=');

  fmt::print("Model: {}\n{}\n", title, thin);
  for (size_t i = 0; i < layer.size(); ++i) {
    std::string line = fmt::format(" {:<{}}{:<{}}{:<{}}{}", layer[i], w0 - 1, shape[i], w1,
                                   params[i], w2, trainable[i]);
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::print("{}\n", line);
    if (i == 0) fmt::print("{}\n", thick);
  }
  fmt::print("{}\n", thick);
  fmt::print("Total params: {}\n", with_commas(total));
  fmt::print("Trainable params: {}\n", with_commas(total_trainable));
  fmt::print("Non-trainable params: {}\n", with_commas(total - total_trainable));
  fmt::print("{}\n", thin);
}

void summary(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string file = config_file_of(path);
  auto doc = config::Document::load(file, overrides);
  auto root = doc.root();
  if (!root.is_map("model")) {
    throw InputError(fmt::format("{}: no 'model:' section to summarise", file));
  }
  // The model section only: other sections (data, trainer, ...) are someone else's keys,
  // so there is no root.finish() here.
  auto model = root.child("model");
  std::string type;
  model.required("type", type);
  auto net = models::networks().make(type, model.where("type"), model);
  const auto rows = net->summary();
  print_table(fmt::format("\"{}\" ({})", type, file), rows);
}

}  // namespace

void add_summary_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "summary", "Print a Keras-style table of a model: layer, output shape, parameters, "
                 "trainable or frozen, and totals.");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *path,
                  "YAML run config, or a checkpoint or run directory (its config.yaml)")
      ->required();
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. model.size=debug");
  cmd->callback([path, overrides] { summary(*path, *overrides); });
}

}  // namespace strata::cli
