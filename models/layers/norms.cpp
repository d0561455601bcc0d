#include "models/layers/norms.h"

namespace strata::models {

LayerNormImpl::LayerNormImpl(const LayerNormOptions& options_) : options(options_) {
  weight = register_parameter("weight", torch::ones({options.n_embd()}));
  if (options.bias()) bias = register_parameter("bias", torch::zeros({options.n_embd()}));
}

void LayerNormImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  weight.fill_(1.0);
  if (bias.defined()) bias.zero_();
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {options.n_embd()}, weight, bias, options.eps());
}

}  // namespace strata::models
