#pragma once
// GPT: a decoder-only transformer as in GPT-2 and nanoGPT.
//
// Pre-LayerNorm blocks, GELU MLP (4C), learned position embeddings, input and output
// embeddings tied, dropout, optional bias, GPT-2 initialisation (normal 0.02; the residual
// projections c_proj scaled by 1/sqrt(2 n_layer)). The GELU is the exact (erf) one unless
// `activation: gelu_new` asks for the tanh approximation GPT-2 was trained with: Hugging
// Face's GPT-2 checkpoints import with it (models/hf.h).
//
// Shape letters: B batch, T time (tokens), C n_embd, H n_head, hs = C / H, V vocab_size.
//
// Parameter names follow nanoGPT (they are public API: freeze policies, optimizer groups
// and checkpoint import select by them):
//   transformer.wte.weight [V, C]   (also the output projection: there is no lm_head.weight)
//   transformer.wpe.weight [block_size, C]
//   transformer.h.{i}.ln_1.{weight,bias}
//   transformer.h.{i}.attn.c_attn.{weight,bias}   [3C, C]: q, k, v stacked in that order
//   transformer.h.{i}.attn.c_proj.{weight,bias}
//   transformer.h.{i}.ln_2.{weight,bias}
//   transformer.h.{i}.mlp.c_fc.{weight,bias}, transformer.h.{i}.mlp.c_proj.{weight,bias}
//   transformer.ln_f.{weight,bias}
// Linear weights are stored [out, in] as torch::nn::Linear does (nanoGPT's layout, the
// transpose of Hugging Face's GPT-2 Conv1D).

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/causal_lm.h"
#include "core/network.h"
#include "core/registry.h"
#include "models/layers/attention.h"
#include "models/layers/mlp.h"
#include "models/layers/norms.h"

namespace strata::models {

struct GPTOptions {
  TORCH_ARG(int64_t, vocab_size) = 50257;  // V
  TORCH_ARG(int64_t, block_size) = 1024;   // longest context T
  TORCH_ARG(int64_t, n_layer) = 12;        // blocks
  TORCH_ARG(int64_t, n_head) = 12;         // H
  TORCH_ARG(int64_t, n_embd) = 768;        // C
  TORCH_ARG(double, dropout) = 0.0;        // embeddings, attention weights, residuals
  TORCH_ARG(bool, bias) = true;            // biases in Linear and LayerNorm
  // The MLP's GELU: "gelu" (exact, erf) or "gelu_new" (tanh approximation, GPT-2's
  // `activation_function`); models/layers/mlp.h.
  TORCH_ARG(std::string, activation) = "gelu";
  TORCH_ARG(double, layer_norm_eps) = 1e-5;  // ln_1, ln_2, ln_f (GPT-2's layer_norm_epsilon)
  // "sdpa" (at::scaled_dot_product_attention's fused kernels) or "eager" (the explicit
  // softmax path); Hugging Face's `attn_implementation`. models/layers/attention.h.
  TORCH_ARG(std::string, attn_implementation) = "sdpa";
};

// Named sizes: debug, tiny, mini, small (CPU-sized), gpt2 (124M), gpt2-medium (350M),
// gpt2-large (774M), gpt2-xl (1.5B). Unknown name -> InputError listing the valid ones.
GPTOptions gpt_size(const std::string& name);
std::vector<std::string> gpt_sizes();
// The same table, for config readers (NamedSizes::read).
const NamedSizes<GPTOptions>& gpt_named_sizes();

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const GPTOptions& options);
  // x [B, T, C] -> [B, T, C]. With a cache, this layer's keys and values for positions
  // past .. past+T-1 are written into it and the queries attend to positions 0 .. past+T-1.
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, KVCache* cache = nullptr,
                        int64_t layer = 0, int64_t past = 0);

  GPTOptions options;
  AttentionImplementation impl_;  // from options.attn_implementation()
  torch::nn::Linear c_attn{nullptr};  // C -> 3C (q, k, v)
  torch::nn::Linear c_proj{nullptr};  // C -> C
};
TORCH_MODULE(CausalSelfAttention);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GPTOptions& options);
  // x [B, T, C] -> [B, T, C]
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, KVCache* cache = nullptr,
                        int64_t layer = 0, int64_t past = 0);

  LayerNorm ln_1{nullptr};
  CausalSelfAttention attn{nullptr};
  LayerNorm ln_2{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(Block);

class GPTImpl : public Network, public CausalLM {
 public:
  explicit GPTImpl(const GPTOptions& options);

  // Token logits [B, T, V] for batch.input [B, T] (Network's interface).
  torch::Tensor forward(const Batch& batch) override;
  // idx [B, T] int64 -> logits [B, T, V].
  torch::Tensor forward(const torch::Tensor& idx);

  // The final hidden states (after ln_f) [B, T, C], for heads that sit on top.
  // With a cache, idx holds the tokens after the cached ones, at positions
  // cache->length .. cache->length+T-1, and the cache grows by T.
  torch::Tensor hidden_states(const torch::Tensor& idx, KVCache* cache = nullptr) override;
  // Hidden states [..., C] -> logits [..., V] through the tied embedding.
  torch::Tensor logits(const torch::Tensor& hidden) override;
  // Mean next-token cross-entropy of batch.input [B, T] against batch.target [B, T]
  // (-100 = ignored), the same value as cross_entropy(forward(batch), target) computed
  // without materialising the logits (layers/lm_head.h): faster and lighter for training.
  torch::Tensor loss(const Batch& batch) override;
  // An empty cache for `batch_size` sequences of up to `capacity` positions (default
  // block_size), on the model's device and dtype.
  KVCache make_cache(int64_t batch_size, int64_t capacity = 0) const override;
  int64_t context_length() const override { return options_.block_size(); }
  int64_t vocab_size() const override { return options_.vocab_size(); }
  CausalLM* causal_lm() override { return this; }
  // The hidden state [B, C] of each row's last real token (kDefault, kLast; rows
  // right-padded, batch.attention_mask marking real tokens) or their mean (kMean).
  torch::Tensor features(const Batch& batch, Pooling pooling = Pooling::kDefault) override;
  int64_t num_features() const override { return options_.n_embd(); }

  // Parameters counted for FLOPs: all but the position embeddings (a lookup, no matmul;
  // the token embedding counts because it is also the output projection).
  int64_t num_params(bool include_position_embeddings = false) const;
  // 6 N + 12 L C T per token (T = block_size), forward and backward.
  double train_flops_per_unit() const override;
  std::vector<SummaryRow> summary() override;

  const GPTOptions& options() const { return options_; }

  std::shared_ptr<torch::nn::Module> transformer;  // holds the names below
  torch::nn::Embedding wte{nullptr};               // transformer.wte
  torch::nn::Embedding wpe{nullptr};               // transformer.wpe
  torch::nn::ModuleList h{nullptr};                // transformer.h
  LayerNorm ln_f{nullptr};                         // transformer.ln_f

 private:
  void init_weights();

  GPTOptions options_;
  std::vector<Block> blocks_;  // h's elements, typed
  CausalMask causal_mask_;
};
TORCH_MODULE(GPT);

}  // namespace strata::models
