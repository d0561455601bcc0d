#pragma once
// BERT: a bidirectional transformer encoder with a masked-LM head, as in Devlin et al. and
// Hugging Face's BertForPreTraining (without the next-sentence head).
//
// Post-LayerNorm blocks, as original BERT: x = LN(x + Attn(x)); x = LN(x + FFN(x)).
// Chosen over pre-LN so that published BERT checkpoints import with their names and
// numbers unchanged. GELU (erf form; `activation: gelu_new` for the tanh approximation),
// LayerNorm eps 1e-12, init normal 0.02.
//
// Shape letters: B batch, T time (tokens), C n_embd, H n_head, hs = C / H, V vocab_size.
//
// Parameter names are Hugging Face's (public API: freeze policies, optimizer groups and
// checkpoint import select by them):
//   bert.embeddings.{word_embeddings,position_embeddings,token_type_embeddings}.weight
//   bert.embeddings.LayerNorm.{weight,bias}
//   bert.encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias}
//   bert.encoder.layer.{i}.attention.output.dense.{weight,bias}
//   bert.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}
//   bert.encoder.layer.{i}.intermediate.dense.{weight,bias}
//   bert.encoder.layer.{i}.output.dense.{weight,bias}
//   bert.encoder.layer.{i}.output.LayerNorm.{weight,bias}
//   bert.pooler.dense.{weight,bias}
//   cls.predictions.transform.dense.{weight,bias}
//   cls.predictions.transform.LayerNorm.{weight,bias}
//   cls.predictions.bias   (the decoder's weight is word_embeddings.weight, tied)

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/network.h"
#include "core/registry.h"
#include "models/layers/attention.h"
#include "models/layers/mlp.h"
#include "models/layers/norms.h"

namespace strata::models {

struct BertOptions {
  TORCH_ARG(int64_t, vocab_size) = 30522;    // V
  TORCH_ARG(int64_t, block_size) = 512;      // positions (HF: max_position_embeddings)
  TORCH_ARG(int64_t, type_vocab_size) = 2;   // segments
  TORCH_ARG(int64_t, n_layer) = 12;          // blocks
  TORCH_ARG(int64_t, n_head) = 12;           // H
  TORCH_ARG(int64_t, n_embd) = 768;          // C (the feed-forward is 4C)
  TORCH_ARG(double, dropout) = 0.1;          // embeddings, attention weights, residuals
  TORCH_ARG(double, layer_norm_eps) = 1e-12;
  // The GELU of intermediate.dense and the MLM transform: "gelu" (exact, erf) or
  // "gelu_new" (tanh approximation); Hugging Face's `hidden_act`. models/layers/mlp.h.
  TORCH_ARG(std::string, activation) = "gelu";
  // "sdpa" (at::scaled_dot_product_attention's fused kernels) or "eager" (the explicit
  // softmax path); Hugging Face's `attn_implementation`. models/layers/attention.h.
  TORCH_ARG(std::string, attn_implementation) = "sdpa";
};

// Named sizes: debug (CPU tests), tiny, mini, small, medium (Turc et al.'s BERT
// miniatures), bert-base, bert-large. Unknown name -> InputError listing the valid ones.
BertOptions bert_size(const std::string& name);
std::vector<std::string> bert_sizes();
// The same table, for config readers (NamedSizes::read).
const NamedSizes<BertOptions>& bert_named_sizes();

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertOptions& options);
  // ids [B, T], segment [B, T] or undefined (all 0) -> [B, T, C]
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& segment);

  BertOptions options;
  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::Embedding token_type_embeddings{nullptr};
  LayerNorm norm{nullptr};  // "LayerNorm"
};
TORCH_MODULE(BertEmbeddings);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertOptions& options);
  // x [B, T, C] -> [B, T, C]
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask);

  BertOptions options;
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};  // attention.self.*
  torch::nn::Linear attention_dense{nullptr};                      // attention.output.dense
  LayerNorm attention_norm{nullptr};                               // attention.output.LayerNorm
  torch::nn::Linear intermediate_dense{nullptr};                   // intermediate.dense (C -> 4C)
  torch::nn::Linear output_dense{nullptr};                         // output.dense (4C -> C)
  LayerNorm output_norm{nullptr};                                  // output.LayerNorm
};
TORCH_MODULE(BertLayer);

class BertImpl : public Network {
 public:
  explicit BertImpl(const BertOptions& options);

  // Masked-LM logits [B, T, V] for batch.input [B, T], with batch.segment and
  // batch.attention_mask when defined (Network's interface).
  torch::Tensor forward(const Batch& batch) override;

  // The encoder's output [B, T, C]. segment [B, T] and attention_mask [B, T] (1 = real
  // token, 0 = padding: no query attends to a padding key) may be undefined.
  torch::Tensor hidden_states(const torch::Tensor& ids, const torch::Tensor& segment = {},
                              const torch::Tensor& attention_mask = {});
  // The pooler on the first ([CLS]) position: hidden [B, T, C] -> tanh(dense) [B, C].
  torch::Tensor pooled(const torch::Tensor& hidden);
  // The MLM head on hidden states [..., C] -> logits [..., V]. Objectives may gather the
  // masked positions first and pass only those.
  torch::Tensor mlm_logits(const torch::Tensor& hidden);

  // Mean masked-LM cross-entropy over the positions whose batch.target is not -100: the
  // same value as cross_entropy(forward(batch), target, ignore_index -100), with the head
  // run on those positions only and without materialising logits (layers/lm_head.h).
  torch::Tensor loss(const Batch& batch) override;
  int64_t context_length() const override { return options_.block_size(); }
  int64_t vocab_size() const override { return options_.vocab_size(); }
  // pooled() [B, C] (kDefault), the [CLS] hidden state without the pooler (kFirst), or the
  // mean over real tokens (kMean). kLast is an InputError (BERT reads both ways).
  torch::Tensor features(const Batch& batch, Pooling pooling = Pooling::kDefault) override;
  int64_t num_features() const override { return options_.n_embd(); }

  // Parameters counted for FLOPs: all but the position and segment embeddings.
  int64_t num_params(bool include_position_embeddings = false) const;
  // 6 N + 12 L C T per token (T = block_size), forward and backward.
  double train_flops_per_unit() const override;
  std::vector<SummaryRow> summary() override;

  const BertOptions& options() const { return options_; }

  BertEmbeddings embeddings{nullptr};      // bert.embeddings
  torch::nn::ModuleList layer{nullptr};    // bert.encoder.layer
  torch::nn::Linear pooler_dense{nullptr};  // bert.pooler.dense
  torch::nn::Linear transform_dense{nullptr};  // cls.predictions.transform.dense
  LayerNorm transform_norm{nullptr};           // cls.predictions.transform.LayerNorm
  torch::Tensor decoder_bias;                  // cls.predictions.bias [V]

 private:
  void init_weights();

  BertOptions options_;
  std::vector<BertLayer> layers_;  // layer's elements, typed
};
TORCH_MODULE(Bert);

}  // namespace strata::models
