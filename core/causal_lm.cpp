#include "core/causal_lm.h"

namespace strata {

KVCache KVCache::clone() const {
  KVCache out;
  out.length = length;
  for (const auto& t : k) out.k.push_back(t.clone());
  for (const auto& t : v) out.v.push_back(t.clone());
  return out;
}

KVCache KVCache::repeat(int64_t batch_size) const {
  KVCache out;
  out.length = length;
  auto rows = [&](const torch::Tensor& t) {  // [1, H, cap, hs] -> [batch_size, H, cap, hs]
    return t.narrow(0, 0, 1).expand({batch_size, -1, -1, -1}).contiguous();
  };
  for (const auto& t : k) out.k.push_back(rows(t));
  for (const auto& t : v) out.v.push_back(rows(t));
  return out;
}

torch::Tensor CausalLM::forward_cached(const torch::Tensor& tokens, KVCache& cache) {
  return logits(hidden_states(tokens, &cache));
}

TokenScores CausalLM::score(const torch::Tensor& tokens, const torch::Tensor& targets,
                            KVCache* cache) {
  TORCH_CHECK(tokens.sizes() == targets.sizes(), "score: tokens ", tokens.sizes(),
              " and targets ", targets.sizes(), " differ in shape");
  torch::NoGradGuard no_grad;
  auto hidden = hidden_states(tokens, cache);            // [B, T, C]
  auto flat_targets = targets.reshape({-1});              // [B*T]
  auto where = (flat_targets != -100).nonzero().view(-1);  // [N] scored positions
  auto picked = hidden.reshape({-1, hidden.size(-1)}).index_select(0, where);  // [N, C]
  auto logp = torch::log_softmax(logits(picked).to(torch::kFloat), -1);        // [N, V]
  auto wanted = flat_targets.index_select(0, where);                           // [N]
  TokenScores out;
  out.logprobs = torch::zeros(flat_targets.sizes(), logp.options());
  out.logprobs.index_put_({where}, logp.gather(1, wanted.unsqueeze(1)).squeeze(1));
  out.greedy = torch::ones(flat_targets.sizes(), flat_targets.options().dtype(torch::kBool));
  out.greedy.index_put_({where}, logp.argmax(1) == wanted);
  out.logprobs = out.logprobs.view(targets.sizes());
  out.greedy = out.greedy.view(targets.sizes());
  return out;
}

}  // namespace strata
