#include "models/bert/bert.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/registry.h"
#include "models/layers/lm_head.h"

namespace strata::models {

const NamedSizes<BertOptions>& bert_named_sizes() {
  static const NamedSizes<BertOptions> sizes(
      "bert",
      {
          // CPU tests. Only debug sets a vocabulary; the others keep BERT's, which a
          // pre-training config replaces with its tokenizer's (`vocab_size:`).
          {"debug", BertOptions().n_layer(2).n_head(2).n_embd(64).block_size(64).vocab_size(256)},
          {"tiny", BertOptions().n_layer(2).n_head(2).n_embd(128)},
          {"mini", BertOptions().n_layer(4).n_head(4).n_embd(256)},
          {"small", BertOptions().n_layer(4).n_head(8).n_embd(512)},
          {"medium", BertOptions().n_layer(8).n_head(8).n_embd(512)},
          {"bert-base", BertOptions().n_layer(12).n_head(12).n_embd(768)},
          {"bert-large", BertOptions().n_layer(24).n_head(16).n_embd(1024)},
      });
  return sizes;
}

namespace {

// A named level in the parameter names ("attention", "self", ...) that has no code of its
// own: a plain Module that only holds children.
std::shared_ptr<torch::nn::Module> scope(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::Linear linear(int64_t in, int64_t out) { return torch::nn::Linear(in, out); }

}  // namespace

std::vector<std::string> bert_sizes() { return bert_named_sizes().names(); }

BertOptions bert_size(const std::string& name) { return bert_named_sizes().get(name); }

// ---------------------------------------------------------------------------------------
// Embeddings: token + position + segment, then LayerNorm and dropout

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertOptions& o) : options(o) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(o.vocab_size(), o.n_embd()));
  position_embeddings =
      register_module("position_embeddings", torch::nn::Embedding(o.block_size(), o.n_embd()));
  token_type_embeddings =
      register_module("token_type_embeddings", torch::nn::Embedding(o.type_vocab_size(), o.n_embd()));
  norm = register_module("LayerNorm", LayerNorm(LayerNormOptions(o.n_embd()).eps(o.layer_norm_eps())));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& segment) {
  const int64_t T = ids.size(1);
  TORCH_CHECK(T <= options.block_size(), "sequence of ", T, " tokens is longer than block_size ",
              options.block_size());
  auto x = word_embeddings(ids) + position_embeddings->weight.narrow(0, 0, T);  // [B, T, C]
  if (segment.defined()) {
    x = x + token_type_embeddings(segment);
  } else {
    x = x + token_type_embeddings->weight[0];  // every token in segment 0
  }
  x = norm(x);
  if (is_training() && options.dropout() > 0) x = torch::dropout(x, options.dropout(), true);
  return x;
}

// ---------------------------------------------------------------------------------------
// Layer: post-LN attention then feed-forward

BertLayerImpl::BertLayerImpl(const BertOptions& o) : options(o) {
  const int64_t C = o.n_embd();
  const auto norm = LayerNormOptions(C).eps(o.layer_norm_eps());
  auto attention = scope(*this, "attention");
  auto self = scope(*attention, "self");
  query = self->register_module("query", linear(C, C));
  key = self->register_module("key", linear(C, C));
  value = self->register_module("value", linear(C, C));
  auto attention_output = scope(*attention, "output");
  attention_dense = attention_output->register_module("dense", linear(C, C));
  attention_norm = attention_output->register_module("LayerNorm", LayerNorm(norm));
  intermediate_dense = scope(*this, "intermediate")->register_module("dense", linear(C, 4 * C));
  auto output = scope(*this, "output");
  output_dense = output->register_module("dense", linear(4 * C, C));
  output_norm = output->register_module("LayerNorm", LayerNorm(norm));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const AttentionMask& mask) {
  const int64_t H = options.n_head();
  const double p = is_training() ? options.dropout() : 0.0;
  auto y = attend_split(query(x), key(x), value(x), H, mask, p, is_training(),
                        attention_implementation(options.attn_implementation()));  // [B, T, C]
  y = attention_dense(y);                                                       // [B, T, C]
  if (p > 0) y = torch::dropout(y, p, true);
  auto a = attention_norm(x + y);                                  // [B, T, C]
  auto f = activate(intermediate_dense(a), options.activation());  // [B, T, 4C]
  f = output_dense(f);                                             // [B, T, C]
  if (p > 0) f = torch::dropout(f, p, true);
  return output_norm(a + f);                                       // [B, T, C]
}

// ---------------------------------------------------------------------------------------
// BERT with pooler and masked-LM head

BertImpl::BertImpl(const BertOptions& options) : options_(options) {
  TORCH_CHECK(options.n_embd() % options.n_head() == 0, "n_embd (", options.n_embd(),
              ") must be a multiple of n_head (", options.n_head(), ")");
  check_activation(options.activation());
  const int64_t C = options.n_embd();
  auto bert = scope(*this, "bert");
  embeddings = bert->register_module("embeddings", BertEmbeddings(options));
  layer = scope(*bert, "encoder")->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.n_layer(); ++i) {
    layers_.push_back(BertLayer(options));
    layer->push_back(layers_.back());
  }
  pooler_dense = scope(*bert, "pooler")->register_module("dense", linear(C, C));
  auto predictions = scope(*scope(*this, "cls"), "predictions");
  decoder_bias = predictions->register_parameter("bias", torch::zeros({options.vocab_size()}));
  auto transform = scope(*predictions, "transform");
  transform_dense = transform->register_module("dense", linear(C, C));
  transform_norm = transform->register_module(
      "LayerNorm", LayerNorm(LayerNormOptions(C).eps(options.layer_norm_eps())));
  init_weights();
}

void BertImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (p.value().dim() == 2) {  // Linear weights and the embeddings
      p.value().normal_(0.0, 0.02);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      p.value().zero_();
    }  // LayerNorm weights stay 1
  }
}

torch::Tensor BertImpl::hidden_states(const torch::Tensor& ids, const torch::Tensor& segment,
                                      const torch::Tensor& attention_mask) {
  auto x = embeddings->forward(ids, segment);  // [B, T, C]
  AttentionMask mask;
  if (attention_mask.defined()) mask.bias = padding_bias(attention_mask, x.scalar_type());  // [B, 1, 1, T]
  for (auto& l : layers_) x = l->forward(x, mask);
  return x;  // [B, T, C]
}

torch::Tensor BertImpl::pooled(const torch::Tensor& hidden) {
  return torch::tanh(pooler_dense(hidden.select(1, 0)));  // [B, C]
}

torch::Tensor BertImpl::mlm_logits(const torch::Tensor& hidden) {
  auto h = transform_norm(activate(transform_dense(hidden), options_.activation()));  // [..., C]
  return torch::linear(h, embeddings->word_embeddings->weight, decoder_bias);  // [..., V]
}

torch::Tensor BertImpl::forward(const Batch& batch) {
  return mlm_logits(hidden_states(batch.input, batch.segment, batch.attention_mask));
}

torch::Tensor BertImpl::loss(const Batch& batch) {
  auto hidden = hidden_states(batch.input, batch.segment, batch.attention_mask);  // [B, T, C]
  auto targets = batch.target.reshape({-1});                                     // [B*T]
  auto rows = targets.ne(-100).nonzero().squeeze(1);                             // [M]
  auto h = hidden.reshape({-1, options_.n_embd()}).index_select(0, rows);        // [M, C]
  h = transform_norm(activate(transform_dense(h), options_.activation()));       // [M, C]
  return linear_cross_entropy(h, embeddings->word_embeddings->weight, decoder_bias,
                              targets.index_select(0, rows));
}

torch::Tensor BertImpl::features(const Batch& batch, Pooling pooling) {
  if (pooling == Pooling::kLast) {
    throw InputError("bert: pooling 'last' is for causal models; use 'cls', 'first' or 'mean'");
  }
  auto hidden = hidden_states(batch.input, batch.segment, batch.attention_mask);  // [B, T, C]
  if (pooling == Pooling::kDefault) return pooled(hidden);                       // [B, C]
  return pool_hidden_states(hidden, batch.attention_mask, pooling);              // [B, C]
}

int64_t BertImpl::num_params(bool include_position_embeddings) const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  if (!include_position_embeddings) {
    n -= embeddings->position_embeddings->weight.numel();
    n -= embeddings->token_type_embeddings->weight.numel();
  }
  return n;
}

double BertImpl::train_flops_per_unit() const {
  const double L = options_.n_layer(), C = options_.n_embd(), T = options_.block_size();
  return 6.0 * num_params() + 12.0 * L * C * T;
}

std::vector<SummaryRow> BertImpl::summary() {
  const int64_t T = options_.block_size(), C = options_.n_embd();
  std::vector<SummaryRow> rows;
  auto add = [&](const std::string& name, const std::string& type, const torch::nn::Module& m,
                 const std::string& shape) {
    SummaryRow row{name, type, shape, 0, 0};
    for (const auto& p : m.parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable += p.numel();
    }
    rows.push_back(row);
  };
  const std::string btc = fmt::format("(None, {}, {})", T, C);
  add("bert.embeddings", "BertEmbeddings", *embeddings, btc);
  for (size_t i = 0; i < layers_.size(); ++i)
    add(fmt::format("bert.encoder.layer.{}", i), "BertLayer", *layers_[i], btc);
  add("bert.pooler", "Linear+tanh", *pooler_dense, fmt::format("(None, {})", C));
  SummaryRow head{"cls.predictions", "MLMHead (decoder tied)",
                  fmt::format("(None, {}, {})", T, options_.vocab_size()), 0, 0};
  for (const auto& p : {transform_dense->weight, transform_dense->bias, transform_norm->weight,
                        transform_norm->bias, decoder_bias}) {
    head.params += p.numel();
    if (p.requires_grad()) head.trainable += p.numel();
  }
  rows.push_back(head);
  return rows;
}

}  // namespace strata::models
