#pragma once
// Streams of training batches whose position can be saved and restored, so a resumed run
// sees exactly the batches an uninterrupted one would.

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/data/fashion_mnist.h"
#include "core/network.h"

namespace strata::data {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;
  // Batches in one pass over the data; 0 for an endless stream.
  virtual int64_t batches_per_epoch() const = 0;
  virtual nlohmann::json state() const = 0;
  virtual void load_state(const nlohmann::json& state) = 0;
};

// Applied to each float batch of images with a generator seeded from the batch's position,
// so augmentation is reproducible across a resume without saving generator state.
using ImageTransform = std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>;

struct ShardOptions {
  int64_t rank = 0;
  int64_t world = 1;  // each rank takes its slice of every global batch
};

// In-memory labelled images, reshuffled every epoch with a permutation seeded by
// (seed, epoch). The last partial batch of an epoch is kept, as Keras and the peer do.
class ImageBatches : public BatchSource {
 public:
  ImageBatches(const ImageSet& set, int64_t batch_size, uint64_t seed,
               ImageTransform transform = nullptr, ShardOptions shard = {});
  Batch next() override;
  int64_t batches_per_epoch() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

 private:
  void start_epoch();

  torch::Tensor images_;  // float [N, C, H, W] in [0, 1]
  torch::Tensor labels_;  // int64 [N]
  int64_t batch_size_;
  uint64_t seed_;
  ImageTransform transform_;
  ShardOptions shard_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;  // examples of this epoch already served
  torch::Tensor order_;   // this epoch's permutation
};

}  // namespace strata::data
