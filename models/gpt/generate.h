#pragma once
// Sampling from a GPT with its KV cache: token ids in, token ids out (no tokenizer here;
// `strata generate` encodes the prompt and decodes the result, and implements stop strings
// through on_token).

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "models/gpt/gpt.h"

namespace strata::models {

struct GenerateOptions {
  TORCH_ARG(int64_t, max_new_tokens) = 64;
  TORCH_ARG(double, temperature) = 1.0;  // 0 = greedy (argmax)
  TORCH_ARG(int64_t, top_k) = 0;         // keep the k most likely tokens; 0 = all
  TORCH_ARG(double, top_p) = 1.0;        // nucleus: smallest set with this much mass; 1 = all
  TORCH_ARG(uint64_t, seed) = 1337;      // the sampler's own generator: results do not
                                         // depend on the global RNG or the device
  TORCH_ARG(std::vector<int64_t>, stop_ids) = {};  // end on any of these (not returned)
};

// Called with each new token id; return false to stop (the token is kept).
using TokenCallback = std::function<bool(int64_t token)>;

// Continues `prompt` (non-empty token ids) with any causal LM (Network::causal_lm(); a
// model that is not one is an InputError) and returns the new token ids only. The prompt is
// run through the model once, then one token per step through the KV cache. A prompt
// longer than block_size keeps its last block_size - 1 tokens (its left side is cut); when
// the context fills up, the cache is rebuilt from the last block_size / 2 tokens.
// Runs in eval mode without gradients and restores the model's training flag.
std::vector<int64_t> generate(Network& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options, const TokenCallback& on_token = {});
inline std::vector<int64_t> generate(GPT& model, const std::vector<int64_t>& prompt,
                                     const GenerateOptions& options,
                                     const TokenCallback& on_token = {}) {
  return generate(*model, prompt, options, on_token);
}

// One sampling step on logits [V] (any device): temperature, top-k, top-p, then a draw
// with `generator` (CPU). Exposed for tests and for other decoders.
int64_t sample_token(const torch::Tensor& logits, const GenerateOptions& options,
                     torch::Generator& generator);

}  // namespace strata::models
