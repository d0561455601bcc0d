#include "core/data/rows.h"

#include "core/errors.h"
#include "core/json_input.h"

namespace strata::data {

RowBatches::RowBatches(Batch rows, int64_t batch_size, uint64_t seed, ShardOptions shard)
    : rows_(std::move(rows)), batch_size_(batch_size), seed_(seed), shard_(shard) {
  if (rows_.size() == 0) throw InputError("no training examples");
  start_epoch();
}

void RowBatches::start_epoch() {
  auto gen = at::detail::createCPUGenerator(seed_ * 1000003ULL + uint64_t(epoch_));
  order_ = torch::randperm(rows_.size(), gen, torch::kLong);
}

int64_t RowBatches::batches_per_epoch() const {
  return (rows_.size() + batch_size_ - 1) / batch_size_;
}

Batch RowBatches::next() {
  const int64_t n = rows_.size();
  if (position_ >= n) {
    ++epoch_;
    position_ = 0;
    start_epoch();
  }
  const int64_t end = std::min(n, position_ + batch_size_);
  const int64_t len = end - position_;  // this rank's slice of the global batch
  const int64_t from = position_ + len * shard_.rank / shard_.world;
  const int64_t to = position_ + len * (shard_.rank + 1) / shard_.world;
  auto index = order_.slice(0, from, to);
  auto take = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, index) : t; };
  position_ = end;
  return Batch{take(rows_.input), take(rows_.target), take(rows_.segment), take(rows_.attention_mask)};
}

nlohmann::json RowBatches::state() const {
  return {{"epoch", epoch_}, {"position", position_}};
}

void RowBatches::load_state(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("epoch") || !state.contains("position")) {
    throw InputError("state.json: data has no epoch and position");
  }
  epoch_ = json_int64(state.at("epoch"), "state.json", "data.epoch");
  position_ = json_int64(state.at("position"), "state.json", "data.position");
  start_epoch();
}

}  // namespace strata::data
