#include "models/layers/attention.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/errors.h"

namespace strata::models {

AttentionMask CausalMask::for_queries(int64_t past, int64_t tq, const torch::TensorOptions& like) {
  TORCH_CHECK(past + tq <= block_size_, "attention over ", past + tq,
              " positions exceeds block_size ", block_size_);
  AttentionMask mask;
  if (tq == 1) return mask;  // one new query sees every cached key: no mask at all
  if (past == 0) {
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

// `attn_implementation: eager`: the explicit path. Folds B and H into one batch dimension for bmm; reshape is a view for
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

// [B, H, T, hs] -> [B, T, C]
torch::Tensor merge_heads(const torch::Tensor& y) {
  return y.transpose(1, 2).reshape({y.size(0), y.size(2), y.size(1) * y.size(3)});
}

}  // namespace

const std::vector<std::string>& attention_implementation_names() {
  static const std::vector<std::string> names{"sdpa", "eager"};
  return names;
}

AttentionImplementation attention_implementation(const std::string& name) {
  if (name == "sdpa") return AttentionImplementation::kSdpa;
  if (name == "eager") return AttentionImplementation::kEager;
  throw InputError(fmt::format("attn_implementation '{}': expected sdpa or eager", name));
}

torch::Tensor attend_packed(const torch::Tensor& qkv, int64_t n_head, const AttentionMask& mask,
                            double dropout_p, bool training, AttentionImplementation impl) {
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
  auto heads = qkv.view({B, T, 3, n_head, C / n_head}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, hs]
  // The explicit path multiplies with bmm over B*H: one copy here spares it one for each
  // of q, k and v. scaled_dot_product_attention takes the strided views as they are.
  if (impl == AttentionImplementation::kEager) heads = heads.contiguous();
  return merge_heads(attend(heads[0], heads[1], heads[2], mask, dropout_p, training, impl));
}

torch::Tensor attend_split(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           int64_t n_head, const AttentionMask& mask, double dropout_p,
                           bool training, AttentionImplementation impl) {
  auto heads = [n_head](const torch::Tensor& t) {  // [B, T, C] -> [B, H, T, hs]
    return t.view({t.size(0), t.size(1), n_head, t.size(2) / n_head}).transpose(1, 2);
  };
  return merge_heads(attend(heads(q), heads(k), heads(v), mask, dropout_p, training, impl));
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const AttentionMask& mask, double dropout_p, bool training,
                     AttentionImplementation impl) {
  if (impl == AttentionImplementation::kEager) {
    return attend_explicit(q, k, v, mask, dropout_p, training);
  }
  const double p = training ? dropout_p : 0.0;
  const bool causal = mask.causal && !mask.bias.defined();
  // Two calls rather than one optional: `{}` is "no mask" for the optional parameter.
  if (mask.bias.defined()) return at::scaled_dot_product_attention(q, k, v, mask.bias, p, causal);
  return at::scaled_dot_product_attention(q, k, v, {}, p, causal);
}

}  // namespace strata::models
