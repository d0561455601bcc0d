#include "models/load.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/tokenizer.h"
#include "core/trainer.h"
#include "models/hf.h"
#include "models/registry.h"

namespace strata::models {

LoadedNetwork load_network(const std::string& path, const torch::Device& device) {
  if (is_hf_dir(path)) return load_hf(path, device);
  refuse_hf_dir_without_config(path);
  LoadedNetwork out;
  out.checkpoint_dir = resolve_checkpoint(path);
  const std::string config_path = out.checkpoint_dir + "/config.yaml";
  if (!std::filesystem::exists(config_path)) {
    throw InputError(fmt::format("{}: not a Strata checkpoint (no config.yaml)", out.checkpoint_dir));
  }
  auto doc = config::Document::load(config_path);
  auto model_section = doc.root().child("model");
  model_section.required("type", out.type);
  out.network = networks().make(out.type, model_section.where("type"), model_section);
  CheckpointContents contents = load_checkpoint(out.checkpoint_dir);
  load_model_tensors(*out.network, contents.model, out.checkpoint_dir + "/model.safetensors");
  out.network->to(device);
  out.network->eval();
  out.tokenizer_path = Tokenizer::find_in(out.checkpoint_dir);
  return out;
}

}  // namespace strata::models
