#pragma once
// CNN: the design notes' stage-3 model, a convolutional network trained end to end on raw
// pixels, and the configurable conv stack it is one size of.
//
// The stack is a list of conv blocks, then Flatten, hidden Dense layers and a Dense head:
//   block i:  Conv2d(channels[i], kernel_size, padding) -> [BatchNorm2d] -> [MaxPool2d(pool[i])]
//             -> ReLU
//   dense j:  Linear(dense[j]) -> ReLU -> [Dropout]
//   head:     Linear(num_classes), logits (the softmax lives in the loss)
// The named size "keras" is the design notes' Keras model: Conv2D 32 3x3 relu,
// MaxPooling 2, Conv2D 64 3x3 relu, MaxPooling 2, Conv2D 64 3x3 relu, Flatten, Dense 64
// relu, Dense num_classes (93,322 parameters for 28x28x1 and 10 classes).
//
// Max pooling sits before the ReLU: max and ReLU commute (ReLU is monotone), so this is the
// same function as Keras' conv -> relu -> pool, with a quarter of the ReLU work.
//
// Shape letters: B batch, C channels, H height, W width, K classes, F flattened features.
//
// Parameter names (public API: freeze policies, optimizer groups and checkpoints select
// by them), with i counting conv blocks and j hidden Dense layers from 1:
//   conv{i}.weight [C_out, C_in, k, k], conv{i}.bias [C_out] (no bias with batch_norm)
//   bn{i}.weight, bn{i}.bias [C_out]; buffers bn{i}.running_mean, running_var,
//     num_batches_tracked
//   dense{j}.weight [out, in], dense{j}.bias
//   head.weight [K, in], head.bias [K]
// "conv*" and "bn*" are the feature extractor, "dense*" and "head" the classifier.
// Flatten reads [C, H, W] in that order (PyTorch's), so dense1's columns follow it.
// Initialisation is PyTorch's default for each layer (Kaiming-uniform, a = sqrt(5)).
//
// On CPU in float32 the forward runs channels-last (oneDNN convolutions without layout
// reorders) and the first block, whose input needs no gradient, as one fused
// conv + max-pool + ReLU kernel (models/cnn/fast_ops.h). Other devices and dtypes take
// the plain path, which computes the same function.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/network.h"
#include "core/registry.h"

namespace strata::models {

// Convolution padding, as Keras names it.
enum class Padding {
  kValid,  // none: each conv shrinks the image by kernel_size - 1
  kSame,   // kernel_size / 2 on every side (odd kernel_size): the size is kept
};

struct CNNOptions {
  TORCH_ARG(int64_t, in_channels) = 1;   // C of the input images (1 grey, 3 RGB)
  TORCH_ARG(int64_t, image_size) = 28;   // H = W of the input images
  TORCH_ARG(int64_t, num_classes) = 10;  // K
  // Output channels of each conv block; its length is the number of blocks.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64, 64};
  TORCH_ARG(int64_t, kernel_size) = 3;              // square kernels, stride 1
  TORCH_ARG(Padding, padding) = Padding::kValid;
  // Max-pool window (= stride) after each block; 1 = no pooling. One value per block.
  TORCH_ARG(std::vector<int64_t>, pool) = std::vector<int64_t>{2, 2, 1};
  TORCH_ARG(bool, batch_norm) = false;  // BatchNorm2d after each conv (and no conv bias)
  // Widths of the hidden Dense layers between Flatten and the head.
  TORCH_ARG(std::vector<int64_t>, dense) = std::vector<int64_t>{64};
  TORCH_ARG(double, dropout) = 0.0;  // after each hidden Dense layer
};

// Named sizes: keras (the design notes' model), keras_bn (the same with batch norm, and
// dropout 0.3 before the head), debug (small and fast, for tests). Unknown name ->
// InputError listing the valid ones.
CNNOptions cnn_size(const std::string& name);
std::vector<std::string> cnn_sizes();
// The same table, for config readers (NamedSizes::read).
const NamedSizes<CNNOptions>& cnn_named_sizes();

// The spatial size (H = W) after each conv block for `options`, input first; a value below
// 1 means the image is too small for the stack.
std::vector<int64_t> cnn_spatial_sizes(const CNNOptions& options);

class CNNImpl : public Network {
 public:
  explicit CNNImpl(const CNNOptions& options = CNNOptions());

  // Logits [B, K] for batch.input, float images [B, C, H, W] in [0, 1].
  torch::Tensor forward(const Batch& batch) override;
  // images [B, C, H, W] -> logits [B, K].
  torch::Tensor forward(torch::Tensor images);

  // The flattened output of the conv blocks [B, F], the input of the dense layers: the
  // features a new head reads (only Pooling::kDefault).
  torch::Tensor features(const Batch& batch, Pooling pooling = Pooling::kDefault) override;
  int64_t num_features() const override;

  // 2 x multiply-adds of one example's forward pass, times 3 (forward + backward).
  double train_flops_per_unit() const override;
  // Keras-style rows (conv, batch norm, pool, flatten, dense, dropout, head) with output
  // shapes traced from a dummy input.
  std::vector<SummaryRow> summary() override;

  const CNNOptions& options() const { return options_; }

 private:
  // The conv blocks and Flatten: [B, C, H, W] -> [B, F]. With `rows`, records one
  // summary row per layer (and takes the plain path).
  torch::Tensor conv_features(torch::Tensor x, std::vector<SummaryRow>* rows);
  // An InputError unless images are [B, in_channels, image_size, image_size].
  void check_images(const torch::Tensor& images) const;
  // Hidden Dense layers and the head: [B, F] -> [B, K].
  torch::Tensor classifier(torch::Tensor x, std::vector<SummaryRow>* rows);

  CNNOptions options_;
  std::vector<torch::nn::Conv2d> convs_;     // conv1 .. convN
  std::vector<torch::nn::BatchNorm2d> bns_;  // bn1 .. bnN, empty without batch_norm
  std::vector<torch::nn::Linear> denses_;    // dense1 .. denseM
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(CNN);

}  // namespace strata::models
