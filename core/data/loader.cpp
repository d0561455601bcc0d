#include "core/data/loader.h"

#include "core/json_input.h"

namespace strata::data {

ImageBatches::ImageBatches(const ImageSet& set, int64_t batch_size, uint64_t seed,
                           ImageTransform transform, ShardOptions shard)
    : images_(to_float(set.images)),
      labels_(set.labels),
      batch_size_(batch_size),
      seed_(seed),
      transform_(std::move(transform)),
      shard_(shard) {
  start_epoch();
}

void ImageBatches::start_epoch() {
  auto gen = at::detail::createCPUGenerator(seed_ * 1000003ULL + uint64_t(epoch_));
  order_ = torch::randperm(labels_.size(0), gen, torch::kLong);
}

int64_t ImageBatches::batches_per_epoch() const {
  return (labels_.size(0) + batch_size_ - 1) / batch_size_;
}

Batch ImageBatches::next() {
  const int64_t n = labels_.size(0);
  if (position_ >= n) {
    ++epoch_;
    position_ = 0;
    start_epoch();
  }
  const int64_t end = std::min(n, position_ + batch_size_);
  // This rank's slice of the global batch.
  const int64_t len = end - position_;
  const int64_t from = position_ + len * shard_.rank / shard_.world;
  const int64_t to = position_ + len * (shard_.rank + 1) / shard_.world;
  auto index = order_.slice(0, from, to);
  Batch batch{images_.index_select(0, index), labels_.index_select(0, index), {}, {}};
  if (transform_) {
    auto gen = at::detail::createCPUGenerator(seed_ * 7919ULL + uint64_t(epoch_) * 1000003ULL +
                                              uint64_t(position_));
    batch.input = transform_(batch.input, gen);
  }
  position_ = end;
  return batch;
}

nlohmann::json ImageBatches::state() const {
  return {{"epoch", epoch_}, {"position", position_}};
}

void ImageBatches::load_state(const nlohmann::json& state) {
  epoch_ = json_int64(state.at("epoch"), "state.json", "data.epoch");
  position_ = json_int64(state.at("position"), "state.json", "data.position");
  start_epoch();
}

}  // namespace strata::data
