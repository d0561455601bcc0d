#pragma once
// The transformer feed-forward block in GPT-2's naming: c_fc (C -> 4C), GELU, c_proj
// (4C -> C), dropout. Parameter names: c_fc.weight, c_fc.bias, c_proj.weight, c_proj.bias.
// (BERT keeps its own feed-forward because its parameter names follow Hugging Face's
// checkpoints: intermediate.dense / output.dense with a LayerNorm between the two.)
//
// Both families take their activation by the name Hugging Face's configs give it
// (GPT-2's `activation_function`, BERT's `hidden_act`), so that imported checkpoints
// compute what they were trained to:
//   "gelu"      exact GELU, x * Phi(x) with the erf: BERT's, and Strata's default
//   "gelu_new"  the tanh approximation GPT-2 was trained with (torch::gelu(x, "tanh"));
//               it differs from "gelu" by up to about 5e-4 per unit

#include <torch/torch.h>

#include <string>
#include <vector>

namespace strata::models {

// The activation names above, for config readers (read_choice).
const std::vector<std::string>& activation_names();
// An InputError naming `activation` and the valid ones unless it is one of them.
void check_activation(const std::string& activation);
// x -> the named activation of x, elementwise.
torch::Tensor activate(const torch::Tensor& x, const std::string& activation);

struct MLPOptions {
  explicit MLPOptions(int64_t n_embd) : n_embd_(n_embd) {}
  TORCH_ARG(int64_t, n_embd);      // C
  TORCH_ARG(int64_t, expansion) = 4;  // hidden = expansion * C
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(std::string, activation) = "gelu";  // one of activation_names()
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
