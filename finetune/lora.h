#pragma once
// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): each adapted
// Linear's frozen weight W [out, in] is used as W + (alpha / r) B A, with A [r, in] and
// B [out, r] the only new trainable parameters. A starts Kaiming-uniform and B at zero (as
// the paper's loralib does), so the adapted model starts as the pre-trained one.
//
//   freeze:
//     policy: lora
//     rank: 8                 # r
//     alpha: 16               # the update is scaled by alpha / r
//     targets: [c_attn, c_proj, c_fc]   # Linear names (last component); default: every
//                             # attention and MLP projection of GPT and BERT
//
// Parameter names: "<linear>.lora_A", "<linear>.lora_B" (transformer.h.0.attn.c_attn.lora_A).
// The trained adapters are merged into the weights on export (merge_lora).

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/freeze.h"
#include "core/safetensors.h"

namespace strata::finetune {

class LoRA {
 public:
  // Adds the adapters to every torch::nn::Linear under `model` whose last name component is
  // in options.lora_targets, except those under `skip_prefixes` (the new head). None found
  // is an InputError naming the targets.
  LoRA(torch::nn::Module& model, const FreezeOptions& options,
       const std::vector<std::string>& skip_prefixes);

  // Sets each adapted Linear's weight to W + scale B A for the next forward (with autograd
  // to A and B). Called before every forward.
  void refresh();
  int64_t num_adapters() const { return int64_t(adapted_.size()); }
  double scale() const { return scale_; }

 private:
  struct Adapted {
    torch::nn::LinearImpl* linear;
    torch::Tensor weight, a, b;  // the registered (frozen) weight and the adapters
  };
  std::vector<Adapted> adapted_;
  double scale_;
};

// Checkpoint tensors with every "<x>.lora_A" / "<x>.lora_B" pair merged into "<x>.weight"
// (W + scale B A) and removed. A pair without its weight is an InputError naming it.
NamedTensors merge_lora(const NamedTensors& tensors, double scale);

}  // namespace strata::finetune
