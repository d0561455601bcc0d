#include "core/network.h"

#include "core/errors.h"

namespace strata {

torch::Tensor Network::loss(const Batch& batch) {
  auto logits = forward(batch);  // [..., K]
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), batch.target.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

torch::Tensor Network::features(const Batch&, Pooling) {
  throw InputError(name() + " has no features for a head");
}

torch::Tensor pool_hidden_states(const torch::Tensor& hidden, const torch::Tensor& attention_mask,
                                 Pooling pooling) {
  const int64_t B = hidden.size(0), T = hidden.size(1);
  if (pooling == Pooling::kFirst) return hidden.select(1, 0);  // [B, C]
  if (!attention_mask.defined()) {
    return pooling == Pooling::kMean ? hidden.mean(1) : hidden.select(1, T - 1);
  }
  auto mask = attention_mask.to(hidden.dtype());  // [B, T]
  if (pooling == Pooling::kMean) {
    auto counts = mask.sum(1, /*keepdim=*/true).clamp_min(1.0);  // [B, 1]
    return (hidden * mask.unsqueeze(-1)).sum(1) / counts;        // [B, C]
  }
  // The last real token: position (number of real tokens - 1), for right-padded rows.
  auto last = (attention_mask.to(torch::kLong).sum(1) - 1).clamp_min(0);  // [B]
  auto index = last.view({B, 1, 1}).expand({B, 1, hidden.size(2)});       // [B, 1, C]
  return hidden.gather(1, index).squeeze(1);                              // [B, C]
}

std::vector<SummaryRow> Network::summary() {
  std::vector<SummaryRow> rows;
  for (const auto& child : named_children()) {
    SummaryRow row;
    row.name = child.key();
    row.type = child.value()->name();
    for (const auto& p : child.value()->parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable += p.numel();
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace strata
