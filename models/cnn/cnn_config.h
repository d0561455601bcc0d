#pragma once
// The config layer of the CNN family: the `model:` section into CNNOptions, and the
// registration of `type: cnn` into models::networks().

#include "core/config.h"
#include "models/cnn/cnn.h"
#include "models/registry.h"

namespace strata::models {

// Reads the model section: `size:` (a named size, default keras) picks the starting point,
// then any of in_channels, image_size, num_classes, channels, kernel_size, padding, pool,
// batch_norm, dense, dropout override it. `pool` is one value per conv block, or a single
// value for every block. Refuses unknown keys (Reader::finish), and a stack whose pooling
// leaves no pixels for the image size.
CNNOptions read_cnn_options(config::Reader& r);

// Registers `cnn`.
void register_cnn(NetworkRegistry& registry);

}  // namespace strata::models
