#include "models/layers/mlp.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/errors.h"

namespace strata::models {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"gelu", "gelu_new"};
  return names;
}

void check_activation(const std::string& activation) {
  const auto& names = activation_names();
  if (std::find(names.begin(), names.end(), activation) == names.end()) {
    throw InputError(
        fmt::format("activation '{}' is not one of {}", activation, fmt::join(names, ", ")));
  }
}

torch::Tensor activate(const torch::Tensor& x, const std::string& activation) {
  return activation == "gelu_new" ? torch::gelu(x, "tanh") : torch::gelu(x);
}

MLPImpl::MLPImpl(const MLPOptions& options_) : options(options_) {
  check_activation(options.activation());
  const int64_t C = options.n_embd(), hidden = options.expansion() * C;
  c_fc = register_module("c_fc", torch::nn::Linear(torch::nn::LinearOptions(C, hidden).bias(options.bias())));
  c_proj = register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(hidden, C).bias(options.bias())));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  auto h = activate(c_fc(x), options.activation());  // [B, T, 4C]
  h = c_proj(h);                                     // [B, T, C]
  if (is_training() && options.dropout() > 0) h = torch::dropout(h, options.dropout(), true);
  return h;
}

}  // namespace strata::models
