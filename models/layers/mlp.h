#pragma once
// The transformer feed-forward block in GPT-2's naming: c_fc (C -> 4C), GELU, c_proj
// (4C -> C), dropout. Parameter names: c_fc.weight, c_fc.bias, c_proj.weight, c_proj.bias.
// (BERT keeps its own feed-forward because its parameter names follow Hugging Face's
// checkpoints: intermediate.dense / output.dense with a LayerNorm between the two.)

#include <torch/torch.h>

namespace strata::models {

struct MLPOptions {
  explicit MLPOptions(int64_t n_embd) : n_embd_(n_embd) {}
  TORCH_ARG(int64_t, n_embd);      // C
  TORCH_ARG(int64_t, expansion) = 4;  // hidden = expansion * C
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, dropout) = 0.0;
};

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const MLPOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, C] -> [B, T, C]

  MLPOptions options;
  torch::nn::Linear c_fc{nullptr};
  torch::nn::Linear c_proj{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace strata::models
