#pragma once
// Normalisation layers shared by the transformer families.

#include <torch/torch.h>

namespace strata::models {

struct LayerNormOptions {
  explicit LayerNormOptions(int64_t n_embd) : n_embd_(n_embd) {}
  TORCH_ARG(int64_t, n_embd);         // normalised (last) dimension C
  TORCH_ARG(double, eps) = 1e-5;      // GPT-2 1e-5, BERT 1e-12
  TORCH_ARG(bool, bias) = true;       // nanoGPT's `bias: false` drops it
};

// LayerNorm over the last dimension with an optional bias (torch::nn::LayerNorm has no
// bias switch before LibTorch 2.1). Parameters: `weight` [C], and `bias` [C] when enabled.
class LayerNormImpl : public torch::nn::Module {
 public:
  explicit LayerNormImpl(const LayerNormOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [..., C] -> [..., C]
  void reset_parameters();

  LayerNormOptions options;
  torch::Tensor weight;
  torch::Tensor bias;  // undefined when options.bias() is false
};
TORCH_MODULE(LayerNorm);

}  // namespace strata::models
