#pragma once
// Image augmentation as batched tensor operations, Keras's ImageDataGenerator: one random
// affine transform per image (rotation, shifts, horizontal flip) applied to the whole
// batch at once with affine_grid + grid_sample, so it runs wherever the batch lives,
// GPU included.

#include <torch/torch.h>

#include <string>

#include "core/config.h"

namespace strata::data {

struct AugmentOptions {
  double rescale = 1.0;             // pixel values are multiplied by this (Keras: 1/255)
  double rotation_range = 0.0;      // degrees; each image turns by U(-r, r)
  double width_shift_range = 0.0;   // share of the width; each image moves by U(-s, s) * W
  double height_shift_range = 0.0;  // share of the height
  bool horizontal_flip = false;     // each image is mirrored with probability 1/2
  std::string fill_mode = "nearest";  // nearest (edge pixels) | constant (zeros)
};

void read_options(config::Reader& r, AugmentOptions& o);

// Whether the options move any pixel (rescale alone does not).
bool moves_pixels(const AugmentOptions& o);

// images: float [B, C, H, W] on any device. Random draws are made on the CPU with `gen` (a
// CPU generator), so a seed gives the same transforms on every device.
torch::Tensor augment(const torch::Tensor& images, const AugmentOptions& o, at::Generator& gen);

}  // namespace strata::data
