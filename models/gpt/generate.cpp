#include "models/gpt/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "core/errors.h"

namespace strata::models {

int64_t sample_token(const torch::Tensor& logits, const GenerateOptions& options,
                     torch::Generator& generator) {
  const auto raw = logits.detach().to(torch::kCPU, torch::kFloat32).flatten();  // [V]
  if (options.temperature() <= 0) return raw.argmax().item<int64_t>();
  auto z = raw / options.temperature();
  // A temperature so small that finite logits overflow is greedy decoding, its limit
  // (softmax would give NaN and multinomial refuse it).
  if ((torch::isinf(z) & torch::isfinite(raw)).any().item<bool>()) return raw.argmax().item<int64_t>();
  const int64_t V = z.size(0);
  if (options.top_k() > 0 && options.top_k() < V) {
    auto kth = std::get<0>(z.topk(options.top_k())).min();
    z = z.masked_fill(z < kth, -INFINITY);
  }
  auto probs = torch::softmax(z, 0);
  if (options.top_p() < 1.0) {
    auto [sorted, order] = probs.sort(/*dim=*/0, /*descending=*/true);
    // Drop a token when the mass before it already reaches top_p; the most likely always
    // stays, so top_p 0 is greedy decoding (transformers' min_tokens_to_keep = 1).
    auto before = sorted.cumsum(0) - sorted;
    auto drop = before >= options.top_p();
    drop[0] = false;
    sorted.masked_fill_(drop, 0.0);
    probs = torch::zeros_like(probs).scatter_(0, order, sorted);
  }
  return at::multinomial(probs, 1, /*replacement=*/false, generator).item<int64_t>();
}

std::vector<int64_t> generate(Network& network, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options, const TokenCallback& on_token) {
  TORCH_CHECK(!prompt.empty(), "generate needs a non-empty prompt");
  CausalLM* model = network.causal_lm();
  if (model == nullptr) throw InputError(network.name() + " is not a causal language model");
  torch::NoGradGuard no_grad;
  const bool was_training = network.is_training();
  network.eval();

  const int64_t block = model->context_length();
  const auto device = network.parameters().front().device();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed());
  auto cache = model->make_cache(/*batch_size=*/1);

  std::vector<int64_t> context(prompt);  // everything so far, for re-filling the cache
  std::vector<int64_t> out;
  auto run = [&](const std::vector<int64_t>& ids) {  // -> logits of the last position [V]
    auto idx = torch::tensor(ids, torch::kInt64).view({1, -1}).to(device);  // [1, T]
    return model->forward_cached(idx, cache).select(1, -1).squeeze(0);
  };
  auto refill = [&](int64_t keep) {  // the cache from the last `keep` tokens of the context
    cache.clear();
    keep = std::min<int64_t>(keep, context.size());
    return run(std::vector<int64_t>(context.end() - keep, context.end()));
  };

  auto logits = refill(block - 1);
  for (int64_t i = 0; i < options.max_new_tokens(); ++i) {
    const int64_t token = sample_token(logits, options, generator);
    const auto& stops = options.stop_ids();
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) break;
    out.push_back(token);
    context.push_back(token);
    if (on_token && !on_token(token)) break;
    if (i + 1 == options.max_new_tokens()) break;
    logits = cache.length < block ? run({token}) : refill(block / 2);
  }
  network.train(was_training);
  return out;
}

}  // namespace strata::models
