#pragma once
// Stratified, seeded subsets: the same examples for every stage, learner and dataset type.

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace strata::data {

// Indices (sorted, int64) of up to per_class examples of each class 0..num_classes-1, drawn
// by a permutation seeded with `seed`.
inline torch::Tensor stratified_indices(const torch::Tensor& labels, int64_t num_classes,
                                        int64_t per_class, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto order = torch::randperm(labels.size(0), gen, torch::kLong);
  auto shuffled = labels.index_select(0, order);
  std::vector<torch::Tensor> picked;
  for (int64_t c = 0; c < num_classes; ++c) {
    auto of_class = order.masked_select(shuffled == c);
    picked.push_back(of_class.slice(0, 0, std::min<int64_t>(per_class, of_class.size(0))));
  }
  return std::get<0>(torch::cat(picked).sort());
}

}  // namespace strata::data
