#include "models/layers/lm_head.h"

#include <algorithm>

namespace strata::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per chunk: about 2^22 logits (16 MB in float, within a server L3; larger chunks
// make larger, faster matrix products), at least 16 rows.
int64_t chunk_rows(int64_t V) {
  return std::max<int64_t>(16, (int64_t{1} << 22) / std::max<int64_t>(V, 1));
}

struct Result {
  torch::Tensor loss;                        // scalar
  torch::Tensor d_hidden, d_weight, d_bias;  // of the loss itself; undefined when not wanted
};

// Which gradients to compute.
struct Wanted {
  bool hidden = false, weight = false, bias = false;
  bool any() const { return hidden || weight || bias; }
};

Result forward_and_gradients(const torch::Tensor& hidden, const torch::Tensor& weight,
                             const torch::Tensor& bias, const torch::Tensor& targets,
                             int64_t ignore_index, const Wanted& want) {
  torch::NoGradGuard no_grad;
  const int64_t N = hidden.size(0), V = weight.size(0);
  const auto valid = targets.ne(ignore_index);                            // [N] bool
  const auto safe_targets = targets.masked_fill(valid.logical_not(), 0);  // [N], in range
  const auto count = valid.sum().to(hidden.scalar_type());  // n (0 gives NaN, as torch)
  // Per row: 1/n for counted rows, 0 for ignored ones.
  const auto row_scale = valid.to(hidden.scalar_type()).div_(count);  // [N]

  Result r;
  r.loss = torch::zeros({}, hidden.options().requires_grad(false));
  if (want.hidden) r.d_hidden = torch::empty_like(hidden);
  if (want.weight) r.d_weight = torch::zeros_like(weight);
  if (want.bias) r.d_bias = torch::zeros_like(bias);
  const auto wt = weight.t();  // [C, V]
  for (int64_t r0 = 0; r0 < N; r0 += chunk_rows(V)) {
    const int64_t n = std::min(chunk_rows(V), N - r0);
    const auto h = hidden.narrow(0, r0, n);                                  // [n, C]
    const auto t = safe_targets.narrow(0, r0, n).unsqueeze(1);               // [n, 1]
    const auto s = row_scale.narrow(0, r0, n).unsqueeze(1);                  // [n, 1]
    auto z = bias.defined() ? torch::addmm(bias, h, wt) : torch::mm(h, wt);  // [n, V] logits
    const auto picked = z.gather(1, t);                                      // [n, 1]
    // z <- e = exp(z - max) in z's memory, one exp per logit; lse = max + log(sum e).
    const auto max = torch::amax(z, {1}, /*keepdim=*/true);  // [n, 1]
    const auto sum = z.sub_(max).exp_().sum(1, /*keepdim=*/true);  // [n, 1]
    r.loss.add_(((sum.log() + max - picked) * s).sum());
    if (!want.any()) continue;
    // d loss / d logits = (e / sum - one_hot(t)) * s = (e - sum * one_hot(t)) * (s / sum).
    // The row factor s / sum goes onto the [n, C] operands instead of the [n, V] logits:
    // d hidden = f * (z W), d W += z^T (f * h), d bias += z^T f.
    z.scatter_add_(1, t, -sum);
    const auto f = s / sum;  // [n, 1]
    if (want.hidden) {
      auto dh = r.d_hidden.narrow(0, r0, n);
      torch::mm_out(dh, z, weight).mul_(f);  // [n, C]
    }
    if (want.weight) r.d_weight.addmm_(z.t(), h * f);  // [V, C]
    if (want.bias) r.d_bias.add_(torch::mv(z.t(), f.squeeze(1)));  // [V]
  }
  return r;
}

// An undefined tensor cannot be an autograd input, so the bias comes last and only when
// there is one (backward's trailing undefined gradient is then dropped).
class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               int64_t ignore_index, const torch::Tensor& bias) {
    Wanted want{hidden.requires_grad(), weight.requires_grad(),
                bias.defined() && bias.requires_grad()};
    auto r = forward_and_gradients(hidden, weight, bias, targets, ignore_index, want);
    ctx->save_for_backward({r.d_hidden, r.d_weight, r.d_bias});
    return r.loss;
  }
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               int64_t ignore_index) {
    return forward(ctx, hidden, weight, targets, ignore_index, torch::Tensor());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = grads[0];  // scalar
    auto scaled = [&](const torch::Tensor& t) { return t.defined() ? t * g : torch::Tensor(); };
    return {scaled(saved[0]), scaled(saved[1]), torch::Tensor(), torch::Tensor(), scaled(saved[2])};
  }
};

}  // namespace

torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& bias, const torch::Tensor& targets,
                                   int64_t ignore_index) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "linear_cross_entropy: hidden [N, C] and weight [V, C] expected, got ",
              hidden.sizes(), " and ", weight.sizes());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0),
              "linear_cross_entropy: targets [N] expected, got ", targets.sizes());
  const bool grads =
      torch::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad() ||
                                        (bias.defined() && bias.requires_grad()));
  if (!grads)
    return forward_and_gradients(hidden, weight, bias, targets, ignore_index, Wanted{}).loss;
  if (bias.defined()) return LinearCrossEntropy::apply(hidden, weight, targets, ignore_index, bias);
  return LinearCrossEntropy::apply(hidden, weight, targets, ignore_index);
}

}  // namespace strata::models
