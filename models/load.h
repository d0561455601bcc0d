#pragma once
// A trained network back from its checkpoint directory: the model section of the
// checkpoint's own config.yaml rebuilds the architecture, model.safetensors fills it; or
// from a Hugging Face directory, whose config.json does the same.

#include <memory>
#include <string>

#include "core/network.h"

namespace strata::models {

struct LoadedNetwork {
  std::shared_ptr<Network> network;
  std::string type;            // model.type
  std::string checkpoint_dir;  // the resolved checkpoint directory
  std::string tokenizer_path;  // checkpoint_dir/tokenizer.model or vocab.txt, or ""
};

// Accepts a checkpoint directory, a run directory (its latest checkpoint) or a Hugging Face
// GPT-2 / BERT directory (models/hf.h: config.json, model.safetensors or its shards).
// Missing or damaged files are InputErrors naming them.
LoadedNetwork load_network(const std::string& path, const torch::Device& device);

}  // namespace strata::models
