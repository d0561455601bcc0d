#pragma once
// Batches of in-memory rows (token ids with their masks and targets, or any other tensors
// whose first dimension is the example), reshuffled every epoch as ImageBatches are.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/data/loader.h"

namespace strata::data {

// Every field of `rows` that is defined has N rows (dimension 0); each batch takes the same
// rows of each. The order is a permutation seeded by (seed, epoch); the last partial
// batch of an epoch is kept. The position is saved and restored like ImageBatches'.
class RowBatches : public BatchSource {
 public:
  RowBatches(Batch rows, int64_t batch_size, uint64_t seed, ShardOptions shard = {});
  Batch next() override;
  int64_t batches_per_epoch() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

 private:
  void start_epoch();

  Batch rows_;
  int64_t batch_size_;
  uint64_t seed_;
  ShardOptions shard_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  torch::Tensor order_;
};

}  // namespace strata::data
