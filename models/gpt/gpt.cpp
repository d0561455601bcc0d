#include "models/gpt/gpt.h"

#include <fmt/format.h>

#include <cmath>

#include "core/errors.h"
#include "core/registry.h"
#include "models/layers/lm_head.h"

namespace strata::models {

const NamedSizes<GPTOptions>& gpt_named_sizes() {
  static const NamedSizes<GPTOptions> sizes(
      "gpt",
      {
          // CPU-sized. Only debug sets a vocabulary; the others keep GPT-2's, which a
          // pre-training config replaces with its tokenizer's (`vocab_size:`).
          {"debug", GPTOptions().n_layer(2).n_head(2).n_embd(64).block_size(64).vocab_size(256)},
          {"tiny", GPTOptions().n_layer(4).n_head(4).n_embd(128).block_size(128)},
          {"mini", GPTOptions().n_layer(4).n_head(4).n_embd(256).block_size(128)},  // bench
          {"small", GPTOptions().n_layer(6).n_head(6).n_embd(384).block_size(256)},
          // GPT-2's shapes.
          {"gpt2", GPTOptions().n_layer(12).n_head(12).n_embd(768)},
          {"gpt2-medium", GPTOptions().n_layer(24).n_head(16).n_embd(1024)},
          {"gpt2-large", GPTOptions().n_layer(36).n_head(20).n_embd(1280)},
          {"gpt2-xl", GPTOptions().n_layer(48).n_head(25).n_embd(1600)},
      });
  return sizes;
}

std::vector<std::string> gpt_sizes() { return gpt_named_sizes().names(); }

GPTOptions gpt_size(const std::string& name) { return gpt_named_sizes().get(name); }

// ---------------------------------------------------------------------------------------
// Attention

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GPTOptions& options_)
    : options(options_), impl_(attention_implementation(options_.attn_implementation())) {
  const int64_t C = options.n_embd();
  c_attn = register_module("c_attn", torch::nn::Linear(torch::nn::LinearOptions(C, 3 * C).bias(options.bias())));
  c_proj = register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(C, C).bias(options.bias())));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const AttentionMask& mask,
                                               KVCache* cache, int64_t layer, int64_t past) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const int64_t H = options.n_head(), hs = C / H;
  auto qkv = c_attn(x);  // [B, T, 3C]: one projection for q, k and v
  torch::Tensor y;       // [B, T, C]
  if (cache == nullptr) {
    y = attend_packed(qkv, H, mask, options.dropout(), is_training(), impl_);
  } else {
    auto heads = qkv.view({B, T, 3, H, hs}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, hs]
    cache->k[layer].narrow(2, past, T).copy_(heads[1]);
    cache->v[layer].narrow(2, past, T).copy_(heads[2]);
    auto k = cache->k[layer].narrow(2, 0, past + T);  // [B, H, past+T, hs]
    auto v = cache->v[layer].narrow(2, 0, past + T);
    y = attend(heads[0], k, v, mask, 0.0, false, impl_)  // [B, H, T, hs]
            .transpose(1, 2)
            .reshape({B, T, C});
  }
  y = c_proj(y);  // [B, T, C]
  if (is_training() && options.dropout() > 0) y = torch::dropout(y, options.dropout(), true);
  return y;
}

// ---------------------------------------------------------------------------------------
// Block: pre-LayerNorm residual attention then MLP

BlockImpl::BlockImpl(const GPTOptions& o) {
  const auto norm = LayerNormOptions(o.n_embd()).eps(o.layer_norm_eps()).bias(o.bias());
  ln_1 = register_module("ln_1", LayerNorm(norm));
  attn = register_module("attn", CausalSelfAttention(o));
  ln_2 = register_module("ln_2", LayerNorm(norm));
  const auto feed_forward =
      MLPOptions(o.n_embd()).bias(o.bias()).dropout(o.dropout()).activation(o.activation());
  mlp = register_module("mlp", MLP(feed_forward));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const AttentionMask& mask, KVCache* cache,
                                 int64_t layer, int64_t past) {
  auto y = x + attn->forward(ln_1(x), mask, cache, layer, past);  // [B, T, C]
  return y + mlp(ln_2(y));                                         // [B, T, C]
}

// ---------------------------------------------------------------------------------------
// GPT

GPTImpl::GPTImpl(const GPTOptions& options)
    : options_(options), causal_mask_(options.block_size()) {
  TORCH_CHECK(options.n_embd() % options.n_head() == 0, "n_embd (", options.n_embd(),
              ") must be a multiple of n_head (", options.n_head(), ")");
  check_activation(options.activation());
  transformer = register_module("transformer", std::make_shared<torch::nn::Module>());
  wte = transformer->register_module("wte", torch::nn::Embedding(options.vocab_size(), options.n_embd()));
  wpe = transformer->register_module("wpe", torch::nn::Embedding(options.block_size(), options.n_embd()));
  h = transformer->register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.n_layer(); ++i) {
    blocks_.push_back(Block(options));
    h->push_back(blocks_.back());
  }
  const auto norm =
      LayerNormOptions(options.n_embd()).eps(options.layer_norm_eps()).bias(options.bias());
  ln_f = transformer->register_module("ln_f", LayerNorm(norm));
  init_weights();
}

void GPTImpl::init_weights() {
  torch::NoGradGuard no_grad;
  const double residual_std = 0.02 / std::sqrt(2.0 * options_.n_layer());
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (p.value().dim() == 2) {  // Linear weights and the embeddings
      p.value().normal_(0.0, name.ends_with("c_proj.weight") ? residual_std : 0.02);
    } else if (name.ends_with(".bias")) {
      p.value().zero_();
    }  // LayerNorm weights stay 1
  }
}

torch::Tensor GPTImpl::hidden_states(const torch::Tensor& idx, KVCache* cache) {
  const int64_t T = idx.size(1);
  const int64_t past = cache != nullptr ? cache->length : 0;
  TORCH_CHECK(past + T <= options_.block_size(), "sequence of ", past + T,
              " tokens is longer than block_size ", options_.block_size());
  TORCH_CHECK(cache == nullptr || past + T <= cache->capacity(), "KV cache full");
  // A slice of wpe rather than a lookup: the same values, and a cheaper backward.
  auto x = wte(idx) + wpe->weight.narrow(0, past, T);  // [B, T, C]
  if (is_training() && options_.dropout() > 0) x = torch::dropout(x, options_.dropout(), true);
  const auto mask = causal_mask_.for_queries(past, T, x.options());
  for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, mask, cache, i, past);
  if (cache != nullptr) cache->length += T;
  return ln_f(x);  // [B, T, C]
}

torch::Tensor GPTImpl::logits(const torch::Tensor& hidden) {
  return torch::linear(hidden, wte->weight);  // [..., V]
}

torch::Tensor GPTImpl::forward(const torch::Tensor& idx) { return logits(hidden_states(idx)); }

torch::Tensor GPTImpl::forward(const Batch& batch) { return forward(batch.input); }

torch::Tensor GPTImpl::loss(const Batch& batch) {
  auto h = hidden_states(batch.input);  // [B, T, C]
  return linear_cross_entropy(h.reshape({-1, options_.n_embd()}), wte->weight, {},
                              batch.target.reshape({-1}));
}

torch::Tensor GPTImpl::features(const Batch& batch, Pooling pooling) {
  if (pooling == Pooling::kFirst) {
    throw InputError("gpt: pooling 'first' sees only the first token; use 'last' or 'mean'");
  }
  return pool_hidden_states(hidden_states(batch.input), batch.attention_mask, pooling);
}

KVCache GPTImpl::make_cache(int64_t batch_size, int64_t capacity) const {
  if (capacity <= 0) capacity = options_.block_size();
  const int64_t H = options_.n_head(), hs = options_.n_embd() / H;
  KVCache cache;
  const auto like = wte->weight.options().requires_grad(false);
  for (int64_t i = 0; i < options_.n_layer(); ++i) {
    cache.k.push_back(torch::empty({batch_size, H, capacity, hs}, like));
    cache.v.push_back(torch::empty({batch_size, H, capacity, hs}, like));
  }
  return cache;
}

int64_t GPTImpl::num_params(bool include_position_embeddings) const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  if (!include_position_embeddings) n -= wpe->weight.numel();
  return n;
}

double GPTImpl::train_flops_per_unit() const {
  const double L = options_.n_layer(), C = options_.n_embd(), T = options_.block_size();
  return 6.0 * num_params() + 12.0 * L * C * T;
}

std::vector<SummaryRow> GPTImpl::summary() {
  const int64_t T = options_.block_size(), C = options_.n_embd();
  auto count = [](const torch::nn::Module& m, SummaryRow& row) {
    for (const auto& p : m.parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable += p.numel();
    }
  };
  std::vector<SummaryRow> rows;
  auto add = [&](const std::string& name, const std::string& type, const torch::nn::Module& m,
                 const std::string& shape) {
    SummaryRow row{name, type, shape, 0, 0};
    count(m, row);
    rows.push_back(row);
  };
  const std::string btc = fmt::format("(None, {}, {})", T, C);
  add("transformer.wte", "Embedding", *wte, btc);
  add("transformer.wpe", "Embedding", *wpe, fmt::format("({}, {})", T, C));
  for (size_t i = 0; i < blocks_.size(); ++i) add(fmt::format("transformer.h.{}", i), "Block", *blocks_[i], btc);
  add("transformer.ln_f", "LayerNorm", *ln_f, btc);
  rows.push_back({"lm_head (tied to wte)", "Linear", fmt::format("(None, {}, {})", T, options_.vocab_size()), 0, 0});
  return rows;
}

}  // namespace strata::models
