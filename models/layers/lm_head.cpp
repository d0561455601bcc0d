#include "models/layers/lm_head.h"

#include <ATen/autocast_mode.h>

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

// The dtype the chunk's matrix products run in: under autocast (trainer.dtype: bfloat16)
// the autocast dtype, as torch.autocast runs a linear layer; otherwise hidden's own.
torch::ScalarType matmul_dtype(const torch::Tensor& hidden) {
  const auto device = hidden.device().type();
  return at::autocast::is_autocast_enabled(device) ? at::autocast::get_autocast_dtype(device)
                                                   : hidden.scalar_type();
}

Result forward_and_gradients(const torch::Tensor& hidden, const torch::Tensor& weight,
                             const torch::Tensor& bias, const torch::Tensor& targets,
                             int64_t ignore_index, const Wanted& want) {
  torch::NoGradGuard no_grad;
  // The products run in `low`; the softmax, the loss and the gradients' sums in `acc`, at
  // least fp32 (autocast's policy for log_softmax and cross_entropy). With no autocast both
  // are hidden's dtype and the casts below are no-ops. Autocast itself is off in here: the
  // casts are explicit.
  const auto low = matmul_dtype(hidden);
  const auto acc = at::promote_types(hidden.scalar_type(), torch::kFloat);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const int64_t N = hidden.size(0), V = weight.size(0);
  const auto valid = targets.ne(ignore_index);                            // [N] bool
  const auto safe_targets = targets.masked_fill(valid.logical_not(), 0);  // [N], in range
  const auto count = valid.sum().to(acc);  // n (0 gives NaN, as torch)
  // Per row: 1/n for counted rows, 0 for ignored ones.
  const auto row_scale = valid.to(acc).div_(count);  // [N]

  const auto h_low = hidden.to(low), w_low = weight.to(low);  // [N, C], [V, C]
  const auto b_low = bias.defined() ? bias.to(low) : bias;     // [V]
  Result r;
  r.loss = torch::zeros({}, hidden.options().dtype(acc).requires_grad(false));
  if (want.hidden) r.d_hidden = torch::empty_like(hidden);
  if (want.weight) r.d_weight = torch::zeros_like(weight);
  if (want.bias) r.d_bias = torch::zeros_like(bias);
  const auto wt = w_low.t();  // [C, V]
  for (int64_t r0 = 0; r0 < N; r0 += chunk_rows(V)) {
    const int64_t n = std::min(chunk_rows(V), N - r0);
    const auto h = h_low.narrow(0, r0, n);                                   // [n, C]
    const auto t = safe_targets.narrow(0, r0, n).unsqueeze(1);               // [n, 1]
    const auto s = row_scale.narrow(0, r0, n).unsqueeze(1);                  // [n, 1]
    auto z = (b_low.defined() ? torch::addmm(b_low, h, wt) : torch::mm(h, wt)).to(acc);  // [n, V]
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
    const auto dz = z.to(low);  // [n, V]
    if (want.hidden) {
      auto dh = r.d_hidden.narrow(0, r0, n);
      if (low == dh.scalar_type()) {
        torch::mm_out(dh, dz, w_low).mul_(f);  // [n, C]
      } else {
        dh.copy_(torch::mm(dz, w_low).to(acc).mul_(f));
      }
    }
    if (want.weight) {
      const auto hf = (h.to(acc) * f).to(low);  // [n, C]
      if (low == r.d_weight.scalar_type()) {
        r.d_weight.addmm_(dz.t(), hf);  // [V, C]
      } else {
        r.d_weight.add_(torch::mm(dz.t(), hf));
      }
    }
    if (want.bias) r.d_bias.add_(torch::mv(z.t(), f.squeeze(1)));  // [V], in acc
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
