// `strata export CKPT --format strata|hf --out DIR [--overwrite]`: a trained network's
// files, for use elsewhere.
//
// CKPT is a Strata checkpoint or run directory, loaded and checked as every command that
// takes a checkpoint loads it (models::load_network), or a Hugging Face GPT-2 / BERT
// directory (models::is_hf_dir, models::read_hf).
//   --format strata  DIR/model.safetensors (the parameters, no optimizer state),
//                    config.yaml (the checkpoint's own; for a Hugging Face directory, its
//                    model section), state.json (naming the source) and tokenizer.model
//                    when the checkpoint has one: a checkpoint directory that every command
//                    taking one reads.
//   --format hf      Hugging Face's config.json + model.safetensors (models::write_hf),
//                    and tokenizer.model when the checkpoint has one.
// A DIR that exists and is not empty is refused unless --overwrite; then files of the same
// names are replaced, and the other format's config file (config.yaml and state.json, or
// config.json) is removed, so that the directory reads as one format only.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/tokenizer.h"
#include "core/trainer.h"
#include "experiments/finetune.h"
#include "finetune/classifier.h"
#include "models/hf.h"
#include "finetune/lora.h"
#include "models/load.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string checkpoint;
  std::string format = "strata";
  std::string out;
  bool overwrite = false;
};

// What an export needs of its source, whichever format that was in.
struct Source {
  std::shared_ptr<Network> network;
  Network* lm = nullptr;       // what --format hf writes: the network, or a classifier's base
  NamedTensors tensors;        // what --format strata writes (LoRA adapters merged)
  std::string config_yaml;     // a Strata config whose model section rebuilds the network
  std::string tokenizer_path;  // "" when there is none
  std::string dir;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "type: gpt\nn_layer: 2\n" -> "model:\n  type: gpt\n  n_layer: 2\n"
std::string as_model_section(const std::string& yaml) {
  std::string out = "model:\n";
  std::istringstream lines(yaml);
  for (std::string line; std::getline(lines, line);) out += "  " + line + "\n";
  return out;
}

bool is_finetuned(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  const std::string dir = resolve_checkpoint(path);
  if (!fs::exists(dir + "/config.yaml", ec)) return false;
  return config::Document::load(dir + "/config.yaml").root().has("init");
}

Source load_source(const std::string& path) {
  Source s;
  if (models::is_hf_dir(path)) {
    const auto hf = models::read_hf(path);
    s.network = models::make_network(hf);
    s.config_yaml = as_model_section(hf.model_yaml);
    s.dir = path;
    s.tokenizer_path = Tokenizer::find_in(path);
  } else if (is_finetuned(path)) {
    // A fine-tuning checkpoint: its config rebuilds the base under its head (init.from
    // must still exist); LoRA adapters are merged into the weights they adapt.
    s.dir = resolve_checkpoint(path);
    auto doc = config::Document::load(s.dir + "/config.yaml");
    s.network = experiments::finetune_model(doc, s.dir);
    s.config_yaml = read_file(fs::path(s.dir) / "config.yaml");
    s.tokenizer_path = Tokenizer::find_in(s.dir);
    s.tensors = model_tensors(*s.network);
    std::string policy;
    int64_t rank = 8;
    double alpha = 16.0;
    auto freeze = doc.root().child("freeze");
    freeze.read("policy", policy);
    freeze.read("rank", rank);
    freeze.read("alpha", alpha);
    if (policy == "lora") {
      s.tensors = finetune::merge_lora(s.tensors, alpha / double(rank));
      torch::NoGradGuard no_grad;
      auto params = s.network->named_parameters();
      for (const auto& [name, t] : s.tensors) {
        if (auto* p = params.find(name)) p->copy_(t);
      }
      log::info("merged the LoRA adapters (rank {}, alpha {}) into the weights", rank, alpha);
    }
    if (auto* classifier = dynamic_cast<finetune::ClassifierImpl*>(s.network.get())) s.lm = &classifier->base();
  } else {
    auto loaded = models::load_network(path, torch::kCPU);
    s.network = loaded.network;
    s.config_yaml = read_file(fs::path(loaded.checkpoint_dir) / "config.yaml");
    s.tokenizer_path = loaded.tokenizer_path;
    s.dir = loaded.checkpoint_dir;
  }
  if (s.tensors.empty()) s.tensors = model_tensors(*s.network);
  if (s.lm == nullptr) s.lm = s.network.get();
  s.network->eval();
  return s;
}

void check_out_dir(const std::string& out, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) {
    throw InputError(fmt::format("--out {}: exists and is not a directory", out));
  }
  if (!overwrite && !fs::is_empty(out, ec)) {
    throw InputError(
        fmt::format("--out {}: exists and is not empty; pass --overwrite to write into it", out));
  }
}

void remove_files(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    std::error_code ec;
    fs::remove(dir / name, ec);
  }
}

void write_strata(const Source& source, const fs::path& out) {
  fs::create_directories(out);
  write_safetensors_atomic((out / "model.safetensors").string(), source.tensors);
  write_file_atomic((out / "config.yaml").string(), source.config_yaml);
  const nlohmann::json state = {{"exported_from", fs::absolute(source.dir).string()}};
  write_file_atomic((out / "state.json").string(), state.dump(2) + "\n");
  if (!source.tokenizer_path.empty()) Tokenizer::load(source.tokenizer_path).save_to(out.string());
  remove_files(out, {"config.json"});
}

void run_export(const ExportArgs& a) {
  check_out_dir(a.out, a.overwrite);
  const Source source = load_source(a.checkpoint);
  // An --overwrite'n directory keeps no tokenizer of another kind, which a reader would
  // otherwise find first (Tokenizer::find_in).
  remove_files(a.out, {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "vocab.txt"});
  if (a.format == "hf") {
    if (source.lm != source.network.get()) {
      log::info("--format hf writes the fine-tuned base as a language model; the classification "
                "head is not part of it (use --format strata to keep it)");
    }
    models::write_hf(*source.lm, a.out, source.tokenizer_path);
    remove_files(a.out, {"config.yaml", "state.json"});
  } else {
    write_strata(source, a.out);
  }
  log::info("exported {} to {} ({})", source.dir, a.out, a.format);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand(
      "export",
      "Write a checkpoint's network as Strata's files (weights and config only) or as "
      "a Hugging Face GPT-2 / BERT directory");
  cmd->add_option("checkpoint", args->checkpoint,
                  "Strata checkpoint or run directory, or a Hugging Face GPT-2 / BERT directory")
      ->required();
  cmd->add_option("--format", args->format, "strata (default) or hf")
      ->check(CLI::IsMember({"strata", "hf"}));
  cmd->add_option("--out", args->out, "directory to write")->required();
  cmd->add_flag("--overwrite", args->overwrite, "write into a DIR that is not empty");
  cmd->callback([args] { run_export(*args); });
}

}  // namespace strata::cli
