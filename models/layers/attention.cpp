#include "models/layers/attention.h"

#include <ATen/Parallel.h>
#include <ATen/core/LegacyTypeDispatch.h>

#include <cmath>
#include <limits>

#include "core/compat.h"

namespace strata::models {

AttentionMask CausalMask::for_queries(int64_t past, int64_t tq, const torch::TensorOptions& like) {
  TORCH_CHECK(past + tq <= block_size_, "attention over ", past + tq,
              " positions exceeds block_size ", block_size_);
  AttentionMask mask;
  if (tq == 1) return mask;  // one new query sees every cached key: no mask at all
  if (compat::kHasSdpa && past == 0) {
    mask.causal = true;
    return mask;
  }
  if (!bias_.defined() || bias_.device() != like.device() ||
      bias_.scalar_type() != like.dtype().toScalarType()) {
    auto allowed = torch::ones({block_size_, block_size_}, torch::kBool).tril();
    bias_ = torch::zeros({block_size_, block_size_}, like.requires_grad(false))
                .masked_fill_(allowed.logical_not().to(like.device()),
                              -std::numeric_limits<double>::infinity());
  }
  mask.bias = bias_.narrow(0, past, tq).narrow(1, 0, past + tq);  // [Tq, Tk]
  return mask;
}

torch::Tensor padding_bias(const torch::Tensor& attention_mask, torch::ScalarType dtype) {
  // The dtype's lowest value rather than -inf, so that a row whose keys are all padding
  // gives a uniform softmax instead of NaN (as Hugging Face's BERT does).
  double lowest = dtype == torch::kFloat64 ? std::numeric_limits<double>::lowest()
                  : dtype == torch::kFloat16 ? -65504.0
                                             : std::numeric_limits<float>::lowest();
  if (dtype == torch::kBFloat16) lowest = -3.38e38;
  auto pad = attention_mask.eq(0).unsqueeze(1).unsqueeze(2);  // [B, 1, 1, Tk]
  return torch::zeros(pad.sizes(), attention_mask.options().dtype(dtype)).masked_fill_(pad, lowest);
}

namespace {

// The 1.13 path. Folds B and H into one batch dimension for bmm; reshape is a view for
// contiguous inputs and for slices of a KV cache along Tk.
torch::Tensor attend_explicit(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const AttentionMask& mask,
                              double dropout_p, bool training) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), hs = q.size(3), Tk = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
  auto q3 = q.reshape({B * H, Tq, hs});
  auto kt = k.reshape({B * H, Tk, hs}).transpose(1, 2);  // [BH, hs, Tk]
  auto v3 = v.reshape({B * H, Tk, hs});

  torch::Tensor bias = mask.bias;
  if (mask.causal && !bias.defined()) {
    TORCH_CHECK(Tq == Tk, "causal attention needs as many queries as keys");
    auto allowed = torch::ones({Tq, Tk}, torch::kBool).tril().to(q.device());
    bias = torch::zeros({Tq, Tk}, q.options()).masked_fill_(allowed.logical_not(), -INFINITY);
  }
  torch::Tensor att;  // [BH, Tq, Tk]
  if (bias.defined()) {
    if (bias.dim() == 4) {  // [B or 1, H or 1, Tq or 1, Tk] -> [BH or 1, Tq or 1, Tk]
      const int64_t bb = bias.size(0) == 1 && bias.size(1) == 1 ? 1 : B * H;
      bias = bias.expand({bb == 1 ? 1 : B, bb == 1 ? 1 : H, bias.size(2), Tk})
                 .reshape({bb, bias.size(2), Tk});
    }
    att = torch::baddbmm(bias, q3, kt, /*beta=*/1.0, /*alpha=*/scale);
  } else {
    att = torch::bmm(q3, kt).mul_(scale);
  }
  att = torch::softmax(att, -1);
  if (training && dropout_p > 0) att = torch::dropout(att, dropout_p, /*train=*/true);
  return torch::bmm(att, v3).view({B, H, Tq, hs});
}

// ---------------------------------------------------------------------------------------
// The fused path (LibTorch 1.13). q, k and v are [B, T, H, hs] views with a contiguous last
// dimension: per (b, h) they are [T, hs] matrices with a row stride (3C for a packed
// projection, C for separate ones) that BLAS takes as its leading dimension, so nothing is
// copied. Inside at::parallel_for each thread runs its matrix products single-threaded
// (ATen and OpenBLAS both see the parallel region), so the threads meet twice per layer
// instead of at every small product. This needs Strata compiled with -fopenmp (the build
// does it): without it, at::parallel_for runs the whole range on the calling thread.
// Thread-local state such as grad mode is not carried into the workers, so each runs its
// products below the autograd layer.

struct Heads {
  torch::Tensor q, k, v;  // [B, T, H, hs] each
};

Heads packed_heads(const torch::Tensor& qkv, int64_t H) {
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
  auto x = qkv.view({B, T, 3, H, C / H});  // [B, T, 3, H, hs]
  return {x.select(2, 0), x.select(2, 1), x.select(2, 2)};
}

Heads split_heads(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t H) {
  auto heads = [H](const torch::Tensor& t) {  // [B, T, C] -> [B, T, H, hs]
    return t.view({t.size(0), t.size(1), H, t.size(2) / H});
  };
  return {heads(q), heads(k), heads(v)};
}

// The additive mask of one (b, h) as a matrix broadcastable to [Tq, Tk], or undefined.
torch::Tensor bias_of(const torch::Tensor& bias, int64_t b, int64_t h) {
  if (!bias.defined() || bias.dim() == 2) return bias;
  return bias[bias.size(0) == 1 ? 0 : b][bias.size(1) == 1 ? 0 : h];  // [B|1, H|1, Tq|1, Tk]
}

// p[b, h] = softmax(q k^T * scale + bias), y[b, :, h] = p[b, h] v.
void fused_forward(const Heads& in, const torch::Tensor& bias, double scale, const torch::Tensor& y,
                   const torch::Tensor& p) {
  const int64_t B = in.q.size(0), Tq = in.q.size(1), H = in.q.size(2), Tk = in.k.size(1);
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // a worker has its own (grad) mode
    auto scores = torch::empty({Tq, Tk}, p.options());
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      auto q = in.q[b].select(1, h), k = in.k[b].select(1, h), v = in.v[b].select(1, h);  // [T, hs]
      auto mask = bias_of(bias, b, h);
      if (mask.defined()) {
        at::addmm_out(scores, mask, q, k.t(), /*beta=*/1.0, /*alpha=*/scale);  // [Tq, Tk]
      } else {
        at::mm_out(scores, q, k.t()).mul_(scale);
      }
      auto probs = p[b][h];
      at::_softmax_out(probs, scores, -1, false);
      auto out = y[b].select(1, h);  // [Tq, hs], row stride C
      at::mm_out(out, probs, v);
    }
  });
}

// The gradients of q, k and v from dy [B, Tq, H, hs], written into grad's views.
void fused_backward(const torch::Tensor& dy, const Heads& in, const torch::Tensor& p, double scale,
                    const Heads& grad) {
  const int64_t B = in.q.size(0), Tq = in.q.size(1), H = in.q.size(2), Tk = in.k.size(1);
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // a worker has its own (grad) mode
    auto dp = torch::empty({Tq, Tk}, p.options()), ds = torch::empty({Tq, Tk}, p.options());
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      auto q = in.q[b].select(1, h), k = in.k[b].select(1, h), v = in.v[b].select(1, h);
      auto g = dy[b].select(1, h);  // [Tq, hs]
      auto probs = p[b][h];         // [Tq, Tk]
      auto dq = grad.q[b].select(1, h), dk = grad.k[b].select(1, h), dv = grad.v[b].select(1, h);
      at::mm_out(dv, probs.t(), g);  // [Tk, hs]
      at::mm_out(dp, g, v.t());      // [Tq, Tk]
      at::_softmax_backward_data_out(ds, dp, probs, -1, p.scalar_type()).mul_(scale);
      at::mm_out(dq, ds, k);      // [Tq, hs]
      at::mm_out(dk, ds.t(), q);  // [Tk, hs]
    }
  });
}

torch::Tensor full_bias(const AttentionMask& mask, int64_t T, const torch::TensorOptions& like) {
  if (mask.bias.defined() || !mask.causal) return mask.bias;
  auto allowed = torch::ones({T, T}, torch::kBool).tril().to(like.device());
  return torch::zeros({T, T}, like).masked_fill_(allowed.logical_not(), -INFINITY);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class PackedAttention : public torch::autograd::Function<PackedAttention> {
 public:
  // qkv [B, T, 3C] -> [B, T, C]
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& qkv, int64_t H,
                               const AttentionMask& mask) {
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
    const double scale = 1.0 / std::sqrt(static_cast<double>(C / H));
    auto y = torch::empty({B, T, C}, qkv.options());
    auto p = torch::empty({B, H, T, T}, qkv.options());
    fused_forward(packed_heads(qkv, H), full_bias(mask, T, qkv.options()), scale,
                  y.view({B, T, H, C / H}), p);
    ctx->save_for_backward({qkv, p});
    ctx->saved_data["H"] = H;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &p = saved[1];
    const int64_t H = ctx->saved_data["H"].toInt();
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
    auto dqkv = torch::empty_like(qkv);
    fused_backward(grads[0].contiguous().view({B, T, H, C / H}), packed_heads(qkv, H), p,
                   1.0 / std::sqrt(static_cast<double>(C / H)), packed_heads(dqkv, H));
    return {dqkv, torch::Tensor(), torch::Tensor()};
  }
};

class SplitAttention : public torch::autograd::Function<SplitAttention> {
 public:
  // q, k, v [B, T, C] -> [B, T, C]
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, int64_t H, const AttentionMask& mask) {
    const int64_t B = q.size(0), T = q.size(1), C = q.size(2);
    auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    auto y = torch::empty({B, T, C}, q.options());
    auto p = torch::empty({B, H, T, k.size(1)}, q.options());
    fused_forward(split_heads(qc, kc, vc, H), full_bias(mask, T, q.options()),
                  1.0 / std::sqrt(static_cast<double>(C / H)), y.view({B, T, H, C / H}), p);
    ctx->save_for_backward({qc, kc, vc, p});
    ctx->saved_data["H"] = H;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3];
    const int64_t H = ctx->saved_data["H"].toInt();
    const int64_t B = q.size(0), T = q.size(1), C = q.size(2);
    auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    fused_backward(grads[0].contiguous().view({B, T, H, C / H}), split_heads(q, k, v, H), p,
                   1.0 / std::sqrt(static_cast<double>(C / H)), split_heads(dq, dk, dv, H));
    return {dq, dk, dv, torch::Tensor(), torch::Tensor()};
  }
};

// [B, H, T, hs] -> [B, T, C]
torch::Tensor merge_heads(const torch::Tensor& y) {
  return y.transpose(1, 2).reshape({y.size(0), y.size(2), y.size(1) * y.size(3)});
}

}  // namespace

torch::Tensor attend_packed(const torch::Tensor& qkv, int64_t n_head, const AttentionMask& mask,
                            double dropout_p, bool training) {
  const bool dropout = training && dropout_p > 0;
  if (!compat::kHasSdpa && !dropout) return PackedAttention::apply(qkv, n_head, mask);
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
  auto heads = qkv.view({B, T, 3, n_head, C / n_head}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, hs]
  // The explicit path multiplies with bmm over B*H: one copy here spares it one for each
  // of q, k and v. scaled_dot_product_attention takes the strided views as they are.
  if (!compat::kHasSdpa) heads = heads.contiguous();
  return merge_heads(attend(heads[0], heads[1], heads[2], mask, dropout_p, training));
}

torch::Tensor attend_split(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           int64_t n_head, const AttentionMask& mask, double dropout_p, bool training) {
  const bool dropout = training && dropout_p > 0;
  if (!compat::kHasSdpa && !dropout) return SplitAttention::apply(q, k, v, n_head, mask);
  auto heads = [n_head](const torch::Tensor& t) {  // [B, T, C] -> [B, H, T, hs]
    return t.view({t.size(0), t.size(1), n_head, t.size(2) / n_head}).transpose(1, 2);
  };
  return merge_heads(attend(heads(q), heads(k), heads(v), mask, dropout_p, training));
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const AttentionMask& mask, double dropout_p, bool training) {
  if (compat::kHasSdpa) {
    return compat::scaled_dot_product_attention(q, k, v, mask.bias, training ? dropout_p : 0.0,
                                                mask.causal && !mask.bias.defined());
  }
  return attend_explicit(q, k, v, mask, dropout_p, training);
}

}  // namespace strata::models
