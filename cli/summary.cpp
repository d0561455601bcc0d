// `strata summary CONFIG|CKPT [key=value ...]`: a Keras-style table of the config's model
// (layer, output shape, parameters, trainable or frozen) and its totals.
//
// CONFIG is a run config: only its `model:` section is read, so a full run config (data,
// trainer, ...) works; so is a run directory without checkpoints (its config.yaml). CKPT is
// a checkpoint or run directory, loaded and checked as every command that takes a
// checkpoint loads it (models::load_network): a damaged or truncated model.safetensors is
// refused here as it is by `strata generate`. Overrides apply to configs only.

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "experiments/finetune.h"
#include "models/load.h"
#include "models/registry.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

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

// Each module's mode ("train" or "eval") by its name, for a model about to train.
std::map<std::string, std::string> modes_of(Network& model) {
  std::map<std::string, std::string> out;
  for (const auto& m : model.named_modules("", /*include_self=*/false)) {
    out[m.key()] = m.value()->is_training() ? "train" : "eval";
  }
  return out;
}

// With `modes` (a fine-tuning model at step 0), a Mode column: the mode each layer trains
// in, frozen layers in eval (core/freeze.h).
void print_table(const std::string& title, const std::vector<SummaryRow>& rows,
                 const std::map<std::string, std::string>& modes = {}) {
  std::vector<std::string> layer{"Layer (type)"}, shape{"Output Shape"}, params{"Param #"},
      trainable{"Trainable"}, mode{modes.empty() ? "" : "Mode"};
  int64_t total = 0, total_trainable = 0;
  for (const auto& r : rows) {
    layer.push_back(fmt::format("{} ({})", r.name, r.type));
    shape.push_back(r.output_shape.empty() ? "?" : r.output_shape);
    params.push_back(with_commas(r.params));
    trainable.push_back(trainable_text(r));
    const auto m = modes.find(r.name);
    mode.push_back(m == modes.end() ? "" : m->second);
    total += r.params;
    total_trainable += r.trainable;
  }
  auto width = [](const std::vector<std::string>& col) {
    size_t w = 0;
    for (const auto& s : col) w = std::max(w, s.size());
    return w + 3;
  };
  const size_t w0 = width(layer), w1 = width(shape), w2 = width(params), w3 = width(trainable);
  const size_t w4 = modes.empty() ? 0 : width(mode);
  const std::string thin(w0 + w1 + w2 + w3 + w4, '_'), thick(w0 + w1 + w2 + w3 + w4, '=');

  fmt::print("Model: {}\n{}\n", title, thin);
  for (size_t i = 0; i < layer.size(); ++i) {
    std::string line = fmt::format(" {:<{}}{:<{}}{:<{}}{:<{}}{}", layer[i], w0 - 1, shape[i], w1,
                                   params[i], w2, trainable[i], w3, mode[i]);
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

// The table of a trained network, loaded as every command loads a checkpoint.
void summarise_checkpoint(const std::string& path, const std::vector<std::string>& overrides) {
  // The weights fix the model: an override could only describe some other model.
  if (!overrides.empty()) {
    throw InputError(
        fmt::format("override '{}': overrides apply to a config file, not to the checkpoint {}",
                    overrides.front(), path));
  }
  // A fine-tuning checkpoint: its config rebuilds the base and the head (init.from must
  // still be there); what was frozen comes from its state.json.
  const std::string dir = resolve_checkpoint(path);
  if (fs::exists(dir + "/config.yaml")) {
    auto doc = config::Document::load(dir + "/config.yaml");
    if (doc.root().has("init")) {
      auto model = experiments::finetune_model(doc, dir);
      print_table(fmt::format("fine-tuned ({})", dir), model->summary());
      return;
    }
  }
  const auto loaded = models::load_network(path, torch::kCPU);
  print_table(fmt::format("\"{}\" ({})", loaded.type, loaded.checkpoint_dir),
              loaded.network->summary());
}

void summary(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(fmt::format("{}: no such file or directory", path));
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    // A run directory that holds no checkpoint yet still has its resolved config.yaml.
    const fs::path config = fs::path(path) / "config.yaml";
    const bool checkpoint = fs::exists(fs::path(path) / "state.json", ec) || has_checkpoints(path);
    if (checkpoint || !fs::is_regular_file(config, ec)) {
      summarise_checkpoint(path, overrides);
      return;
    }
    file = config.string();
  }
  auto doc = config::Document::load(file, overrides);
  auto root = doc.root();
  if (root.has("init")) {  // a fine-tuning config: the base under its head, frozen at step 0
    auto model = experiments::finetune_model(doc);
    print_table(fmt::format("fine-tuned ({})", file), model->summary(), modes_of(*model));
    return;
  }
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
                  "YAML run config, or a checkpoint or run directory (loaded and checked)")
      ->required();
  cmd->add_option("overrides", *overrides, "key.sub=value overrides, e.g. model.size=debug");
  cmd->callback([path, overrides] { summary(*path, *overrides); });
}

}  // namespace strata::cli
