#include "models/layers/mlp.h"

namespace strata::models {

MLPImpl::MLPImpl(const MLPOptions& options_) : options(options_) {
  const int64_t C = options.n_embd(), hidden = options.expansion() * C;
  c_fc = register_module("c_fc", torch::nn::Linear(torch::nn::LinearOptions(C, hidden).bias(options.bias())));
  c_proj = register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(hidden, C).bias(options.bias())));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  auto h = torch::gelu(c_fc(x));  // [B, T, 4C]
  h = c_proj(h);                   // [B, T, C]
  if (is_training() && options.dropout() > 0) h = torch::dropout(h, options.dropout(), true);
  return h;
}

}  // namespace strata::models
