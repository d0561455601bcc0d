#include "finetune/pretrained.h"

#include <fmt/format.h>

#include <fstream>
#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/tokenizer.h"
#include "models/hf.h"
#include "models/registry.h"

namespace fs = std::filesystem;

namespace strata::finetune {

namespace {

bool any_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.starts_with(p); });
}

bool any_glob(const std::string& name, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return fnmatch(p.c_str(), name.c_str(), 0) == 0;
  });
}

std::string shape(const torch::Tensor& t) { return c10::str(t.sizes()); }

}  // namespace

void read_options(config::Reader r, InitOptions& o) {
  r.required("from", o.from);
  r.read("pretrained", o.pretrained);
  r.read("ignore", o.ignore);
  r.read("tokenizer", o.tokenizer);
  std::string mismatch = o.allow_tokenizer_mismatch ? "allow" : "refuse";
  r.read_choice("tokenizer_mismatch", mismatch, {"refuse", "allow"});
  o.allow_tokenizer_mismatch = mismatch == "allow";
  r.finish();
}

PretrainedBase load_base(const InitOptions& o, const std::vector<std::string>& model_overrides,
                         uint64_t seed) {
  PretrainedBase out;
  if (!fs::exists(o.from)) throw InputError(fmt::format("init.from: '{}' does not exist", o.from));
  models::refuse_hf_dir_without_config(o.from);
  if (models::is_hf_dir(o.from)) {
    // A Hugging Face GPT-2 or BERT directory: its config.json gives the architecture.
    models::HFCheckpoint hf = models::read_hf(o.from);
    out.checkpoint_dir = o.from;
    auto doc = config::Document::parse(hf.model_yaml, o.from + "/config.json", model_overrides);
    auto section = doc.root();
    section.required("type", out.type);
    torch::manual_seed(seed);
    out.network = models::networks().make(out.type, section.where("type"), section);
    if (o.pretrained) out.tensors = std::move(hf.tensors);
    out.tokenizer_path = !o.tokenizer.empty() ? o.tokenizer : Tokenizer::find_in(o.from);
    log::info("init.from {}: a Hugging Face {} checkpoint; text runs through {}", o.from, out.type,
              out.tokenizer_path.empty() ? "no tokenizer (no tokenizer.model or vocab.txt; set "
                                           "init.tokenizer; a byte-level BPE tokenizer.json is not read)"
                                         : out.tokenizer_path);
    return out;
  }
  out.checkpoint_dir = resolve_checkpoint(o.from);
  const std::string config_path = out.checkpoint_dir + "/config.yaml";
  if (!fs::exists(config_path)) {
    throw InputError(fmt::format("init.from: {} is not a Strata checkpoint (no config.yaml)",
                                 out.checkpoint_dir));
  }
  auto doc = config::Document::load(config_path);
  auto model_doc = doc.section("model", model_overrides);
  auto section = model_doc.root();
  section.required("type", out.type);
  torch::manual_seed(seed);  // fresh weights (the scratch baseline, the head) follow the seed
  out.network = models::networks().make(out.type, section.where("type"), section);
  if (o.pretrained) out.tensors = load_checkpoint(out.checkpoint_dir).model;
  out.tokenizer_path = !o.tokenizer.empty() ? o.tokenizer : Tokenizer::find_in(out.checkpoint_dir);
  return out;
}

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

void check_tokenizer(const InitOptions& o, const PretrainedBase& base) {
  if (base.tokenizer_path.empty()) return;
  const Tokenizer tok = Tokenizer::load(base.tokenizer_path);
  const int64_t pieces = tok.vocab_size();
  const int64_t rows = base.network->vocab_size();
  if (rows > 0 && pieces > rows) {
    throw InputError(fmt::format(
        "init.tokenizer: {} has {} pieces, more than the {} embedding rows of {}: ids from {} on "
        "have no embedding",
        base.tokenizer_path, pieces, rows, base.checkpoint_dir, rows));
  }
  if (o.tokenizer.empty() || o.allow_tokenizer_mismatch) return;
  const std::string own = Tokenizer::find_in(base.checkpoint_dir);
  if (!own.empty()) {
    if (file_bytes(own) == file_bytes(base.tokenizer_path)) return;
    throw InputError(fmt::format(
        "init.tokenizer: {} ({} pieces) is not the checkpoint's tokenizer {} ({} pieces): the "
        "same text gets other ids than the model learned; use the checkpoint's, or set "
        "init.tokenizer_mismatch: allow",
        base.tokenizer_path, pieces, own, Tokenizer::load(own).vocab_size()));
  }
  if (rows > 0 && pieces != rows) {
    throw InputError(fmt::format(
        "init.tokenizer: {} has {} pieces and {} (which has no tokenizer of its own) {} "
        "embedding rows: they do not belong together; set init.tokenizer_mismatch: allow if "
        "they do",
        base.tokenizer_path, pieces, base.checkpoint_dir, rows));
  }
}

LoadReport load_by_name(torch::nn::Module& model, const NamedTensors& tensors,
                        const std::vector<std::string>& new_prefixes,
                        const std::vector<std::string>& dropped_prefixes,
                        const std::vector<std::string>& ignore, const std::string& where) {
  LoadReport report;
  std::map<std::string, torch::Tensor> saved(tensors.begin(), tensors.end());
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : model.named_parameters()) targets[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) targets[b.key()] = b.value();
  // Check everything first: nothing is copied into a model that will be refused.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, target] : targets) {
    if (any_prefix(name, new_prefixes)) {
      report.fresh.push_back(name);
      continue;
    }
    auto it = saved.find(name);
    const bool ignored = any_glob(name, ignore);
    if (it == saved.end()) {
      if (!ignored) {
        throw InputError(fmt::format("{}: no tensor '{}' for this model (list it under init.ignore "
                                     "to start it fresh)",
                                     where, name));
      }
      report.ignored.push_back(name);
      continue;
    }
    if (!it->second.sizes().equals(target.sizes())) {
      if (!ignored) {
        throw InputError(fmt::format("{}: tensor '{}' has shape {} but the model needs {}", where,
                                     name, shape(it->second), shape(target)));
      }
      report.ignored.push_back(name);
      continue;
    }
    copies.emplace_back(target, it->second);
    report.loaded.push_back(name);
  }
  for (const auto& [name, tensor] : saved) {
    if (targets.count(name)) continue;
    if (any_prefix(name, dropped_prefixes)) {
      report.dropped.push_back(name);
    } else if (any_glob(name, ignore)) {
      report.ignored.push_back(name);
    } else {
      throw InputError(fmt::format("{}: tensor '{}' does not belong to this model (list it under "
                                   "init.ignore to leave it out)",
                                   where, name));
    }
  }
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

void log_report(const LoadReport& r, const std::string& source) {
  log::info("from_pretrained {}: {} tensors loaded, {} new ({}), {} ignored{}{}", source,
            r.loaded.size(), r.fresh.size(), fmt::join(r.fresh, ", "), r.ignored.size(),
            r.ignored.empty() ? "" : fmt::format(" ({})", fmt::join(r.ignored, ", ")),
            r.dropped.empty() ? "" : fmt::format("; {} left out (not used under the new head)", r.dropped.size()));
}

}  // namespace strata::finetune
