#pragma once
// What in-context evaluation and generation need from a causal language model, declared in
// core so that tasks/, finetune/ and the CLI never cast to a model family. A model that
// is one returns itself from Network::causal_lm().
//
// Shape letters: B batch, T tokens, C hidden size, V vocabulary, H heads, hs head size.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace strata {

// Keys and values of every layer for incremental decoding. Buffers are allocated once for
// `capacity()` positions; the first `length` are filled. Copying a KVCache shares its
// buffers; clone() and repeat() make independent ones.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer [B, H, capacity, hs]
  int64_t length = 0;

  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }
  int64_t batch_size() const { return k.empty() ? 0 : k[0].size(0); }
  void clear() { length = 0; }
  // An independent copy (same capacity).
  KVCache clone() const;
  // A cache of `batch_size` rows, each a copy of row 0 of this one: a few-shot prefix run
  // once for one sequence, then continued separately by every document of a batch.
  KVCache repeat(int64_t batch_size) const;
};

// Per-token log-probabilities of given tokens.
struct TokenScores {
  torch::Tensor logprobs;  // float [B, T]: log p(target | everything before); 0 where ignored
  torch::Tensor greedy;    // bool [B, T]: the target was the most likely token; true where ignored
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;

  // Longest sequence (cache contents + new tokens) the model takes.
  virtual int64_t context_length() const = 0;
  virtual int64_t vocab_size() const = 0;  // also Network::vocab_size()
  // An empty cache for `batch_size` sequences of up to `capacity` positions (0: the
  // context length), on the model's device and dtype.
  virtual KVCache make_cache(int64_t batch_size, int64_t capacity = 0) const = 0;
  // Final hidden states [B, T, C] of tokens [B, T] int64 that follow the cache's contents
  // (positions cache->length .. cache->length + T - 1); the cache grows by T. Without a
  // cache the tokens start at position 0. Throws c10::Error past the context length.
  virtual torch::Tensor hidden_states(const torch::Tensor& tokens, KVCache* cache) = 0;
  // Hidden states [..., C] -> next-token logits [..., V].
  virtual torch::Tensor logits(const torch::Tensor& hidden) = 0;

  // Logits [B, T, V] for tokens [B, T] after the cache's contents; the cache grows by T.
  torch::Tensor forward_cached(const torch::Tensor& tokens, KVCache& cache);

  // Runs tokens [B, T] (after the cache's contents, when given) and scores targets [B, T]
  // int64: target[b, t] is the token expected after tokens[b, 0..t]; -100 is not scored.
  // Only scored positions go through the output projection, so no [B, T, V] tensor is
  // made. The harness's loglikelihood request is sum(logprobs) and all(greedy) over the
  // continuation (lm-evaluation-harness, HFLM._loglikelihood_tokens). No gradients.
  TokenScores score(const torch::Tensor& tokens, const torch::Tensor& targets,
                    KVCache* cache = nullptr);
};

}  // namespace strata
